"""Fast checks before any cloud call: Google credentials, a KFP host that is KFP's API, a ``gs://`` object.

Without them the SDKs fail slowly and loudly: ``kfp.Client`` retries its health check for about 27 s and ends
in a ``TimeoutError`` traceback when the host is another HTTP server; gcsfs retries about 50 s without
credentials; the Vertex AI SDK prints ``DefaultCredentialsError`` from deep inside. Each check here takes at
most its ``timeout`` (default :data:`TIMEOUT_SECONDS`) and raises :class:`PreflightError` with one line naming
the target and the fix. Standard library and ``google.auth`` only; nothing is read at import time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 5.0
KFP_HEALTHZ = "/apis/v2beta1/healthz"
_FORWARD = "kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80, then --kfp-host http://localhost:8080"
_LOGIN = "run 'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS to a key file"


class PreflightError(ValueError):
    """A target that cannot work: the message names it and the fix, in one line."""


def check_google_credentials(target: str) -> None:
    """Refuses to go on without Application Default Credentials (``google.auth.default``, milliseconds).

    Args:
        target: What needs them, for the message (``Vertex AI``, ``gs://bucket/pipeline.yaml``).

    Raises:
        PreflightError: No credentials found, or the ones found cannot be loaded.
    """
    import google.auth
    from google.auth import exceptions

    try:
        google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except exceptions.DefaultCredentialsError as err:
        first = " ".join(str(err).split())[:120]
        raise PreflightError(f"{target}: no Google Cloud credentials ({first}); {_LOGIN}") from None
    except exceptions.GoogleAuthError as err:
        raise PreflightError(f"{target}: Google credentials cannot be loaded ({err}); {_LOGIN}") from None


def check_kfp_host(host: str, timeout: float = TIMEOUT_SECONDS, token: str = "") -> dict:
    """Asks ``host`` for KFP's health (``GET /apis/v2beta1/healthz``) once, within ``timeout`` seconds.

    A KFP API (or its UI, which proxies the API) answers 200 with a JSON object; 401/403 are let through (an
    authenticating proxy in front of KFP: ``kfp.Client`` then says what it needs).

    Returns:
        The health record (``{}`` behind an authenticating proxy).

    Raises:
        PreflightError: Nothing answers, or what answers is not KFP's API (another server, a wrong path).
    """
    url = host.rstrip("/") + KFP_HEALTHZ
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            return {}
        raise PreflightError(
            f"--kfp-host {host}: not KFP's API (GET {KFP_HEALTHZ} answered {err.code} {err.reason}); give the address "
            f"of KFP's API or UI, e.g. {_FORWARD}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        why = f"no answer within {timeout:g} s" if isinstance(reason, TimeoutError) else str(reason)
        raise PreflightError(
            f"--kfp-host {host}: nothing answers ({why}); start KFP's port-forward: {_FORWARD}"
        ) from None
    try:
        record = json.loads(body)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise PreflightError(
            f"--kfp-host {host}: not KFP's API (GET {KFP_HEALTHZ} answered {body[:40]!r}…, not KFP's JSON health "
            f"record); give the address of KFP's API or UI, e.g. {_FORWARD}"
        )
    return record
