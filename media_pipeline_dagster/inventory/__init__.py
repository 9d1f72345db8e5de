"""B2 bucket inventory (b2_inventory) mirrored into Cloudflare D1 media_assets (d1_media_assets)."""
