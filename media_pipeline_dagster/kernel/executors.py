"""The executor of every asset job, chosen by the deployment (MEDIA_PIPELINE_EXECUTOR).

- ``multiprocess`` (default): each run executes its steps in subprocesses of the run
  worker, on the host the run launcher picked (one VM, a container, a pod).
- ``celery``: steps go to ``dagster-celery worker`` processes on any number of VMs through
  a Redis (or RabbitMQ) broker; the run worker only orchestrates.
- ``k8s``: one Kubernetes Job per step (``k8s_job_executor``), so per-asset pod sizes apply.

The engines are optional extras (``pip install 'media_pipeline_dagster[celery]'`` or
``[k8s]``); they are imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg

EXECUTORS = ("multiprocess", "celery", "k8s")
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_BACKEND = "redis://127.0.0.1:6379/1"


def executor_name(env: Mapping[str, str]) -> str:
    name = (env.get("MEDIA_PIPELINE_EXECUTOR") or "multiprocess").strip().lower()
    if name not in EXECUTORS:
        raise ValueError(f"MEDIA_PIPELINE_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")
    return name


# Celery settings of the executor and of every worker (deploy/celery/worker.yaml repeats them).
CELERY_SETTINGS = {
    # A worker acknowledges a step when the step ends. With one step per worker process it
    # then never holds a second step while another worker idles (early acknowledgement lets
    # a busy worker reserve the next one), and the step of a worker that vanished stays in
    # Redis instead of being lost.
    "task_acks_late": True,
    # dagster-celery's broker defaults, plus how long Redis waits before handing an
    # unacknowledged step to another worker: longer than any step may run (run monitoring's
    # max_runtime_seconds), so a step still running is never started a second time.
    "broker_transport_options": {
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
        "visibility_timeout": 43200,
    },
}


def celery_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The dagster-celery executor's config; workers must be started with the same broker
    and backend (deploy/celery/worker.yaml reads the same variables)."""
    return {
        "broker": env.get("MEDIA_PIPELINE_CELERY_BROKER") or DEFAULT_BROKER,
        "backend": env.get("MEDIA_PIPELINE_CELERY_BACKEND") or DEFAULT_BACKEND,
        "config_source": CELERY_SETTINGS,
    }


def node_selector(env: Mapping[str, str]) -> dict[str, str]:
    """MEDIA_PIPELINE_K8S_TRANSCRIPTION_NODE_SELECTOR='nvidia.com/gpu.present=true,pool=gpu'."""
    selector: dict[str, str] = {}
    for item in (env.get("MEDIA_PIPELINE_K8S_TRANSCRIPTION_NODE_SELECTOR") or "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key.strip():
            selector[key.strip()] = value.strip()
        elif item.strip():
            raise ValueError(
                f"MEDIA_PIPELINE_K8S_TRANSCRIPTION_NODE_SELECTOR entry {item.strip()!r} must read label=value"
            )
    return selector


def executor_from_env(env: Mapping[str, str]) -> dg.ExecutorDefinition | None:
    """The ExecutorDefinition for the deployment, or None for Dagster's default (multiprocess)."""
    name = executor_name(env)
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(env), name="celery")
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        selector = node_selector(env)
        per_step = (
            {"transcriptions": {"pod_spec_config": {"node_selector": selector}}} if selector else {}
        )
        return k8s_job_executor.configured({"per_step_k8s_config": per_step}, name="k8s")
    return None
