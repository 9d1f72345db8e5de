"""The old archive statistics (verify_s3_archive.py): total, archived, not archived, by media type."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

RULE = "=" * 80


@dataclass(frozen=True)
class TypeStats:
    media_type: str
    total: int
    archived: int

    @property
    def not_archived(self) -> int:
        return self.total - self.archived

    @property
    def archived_pct(self) -> float:
        return round(100.0 * self.archived / self.total, 1) if self.total else 0.0


@dataclass(frozen=True)
class ArchiveStatistics:
    by_type: list[TypeStats]

    @property
    def overall(self) -> TypeStats:
        return TypeStats(
            "all", sum(t.total for t in self.by_type), sum(t.archived for t in self.by_type)
        )


def archive_statistics(conn: sa.Connection) -> ArchiveStatistics:
    rows = conn.execute(
        sa.text(
            "SELECT COALESCE(media_type, '(none)') AS media_type, COUNT(*) AS total, COUNT(archive_url) AS archived"
            " FROM post_media GROUP BY COALESCE(media_type, '(none)') ORDER BY 1"
        )
    )
    return ArchiveStatistics(
        [TypeStats(str(r.media_type), int(r.total), int(r.archived)) for r in rows]
    )


def _lines(stats: TypeStats, indent: str, total_label: str) -> list[str]:
    width = 21 - len(indent)  # values line up in column 21, as in verify_s3_archive.py's output
    return [
        f"{indent}{total_label:<{width}}{stats.total:,}",
        f"{indent}{'Archived:':<{width}}{stats.archived:,} ({stats.archived_pct:.1f}%)",
        f"{indent}{'Not Archived:':<{width}}{stats.not_archived:,}",
    ]


def format_statistics(stats: ArchiveStatistics, title: str = "S3 Archive Statistics") -> str:
    """The table as verify_s3_archive.py printed it."""
    lines = [
        RULE,
        title,
        RULE,
        "",
        "Overall:",
        *_lines(stats.overall, "  ", "Total Media:"),
        "",
        "By Type:",
    ]
    for item in stats.by_type:
        lines.append(f"  {item.media_type.capitalize()}:")
        lines.extend(_lines(item, "    ", "Total:"))
    lines.append(RULE)
    return "\n".join(lines)
