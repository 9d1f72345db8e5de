"""Where a step runs, said with the tags Dagster's executors read (each ignores the others' tags).

The code is the same on every deployment; these tags only matter to the executor that
reads them: ``dagster-celery/queue`` to the Celery executor (a fleet of VMs), and
``dagster-k8s/config`` to ``k8s_job_executor`` (one pod per step on Kubernetes).
"""

# Transcription gets its own Celery queue so that the machines that transcribe (a GPU, or
# a big CPU box for the local Whisper model) serve only that work: `dagster-celery worker
# start -q transcription`. Every other step goes to Celery's default queue, "dagster".
TRANSCRIPTION_QUEUE = "transcription"
DEFAULT_QUEUE = "dagster"

# The local Whisper model is the only CPU- and memory-heavy step; OpenAI transcription
# needs little, but the pod cannot know which provider a run picks, so it gets the larger
# size. A GPU node is chosen per deployment (MEDIA_PIPELINE_K8S_TRANSCRIPTION_NODE_SELECTOR).
TRANSCRIPTION_POD = {
    "container_config": {
        "resources": {
            "requests": {"cpu": "2", "memory": "4Gi"},
            "limits": {"cpu": "4", "memory": "8Gi"},
        }
    }
}

TRANSCRIPTION_STEP_TAGS = {
    "dagster-celery/queue": TRANSCRIPTION_QUEUE,
    "dagster-k8s/config": TRANSCRIPTION_POD,
}
