"""Can this process push to the Hub? One check, before any training time is spent, with one clear line if not."""

from __future__ import annotations

import concurrent.futures

DEFAULT_TIMEOUT = 10.0


class HubUnavailableError(OSError):
    """The Hub cannot be reached, or no usable login was found; the message says what failed and how to go on."""


def check_hub_access(token: str | None = None, endpoint: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                     then: str = "") -> str:
    """The user name of the login that can write to the Hub at ``endpoint``; `HubUnavailableError` otherwise.

    ``then`` is appended to the error (how to go on, e.g. "push later with `cf-vlm push DIR`"). The check calls
    ``whoami`` with a timeout (huggingface_hub's client waits forever on a server that never answers).
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import get_token
    from huggingface_hub.utils import httpx as hub_httpx

    where = endpoint or constants.ENDPOINT
    tail = f"; {then}" if then else ""
    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError(f"cannot push to the Hub: HF_HUB_OFFLINE is set{tail}")
    token = token or get_token()
    if not token:
        raise HubUnavailableError(f"cannot push to the Hub at {where}: not logged in (run `hf auth login`, or set "
                                  f"HF_TOKEN / --hub_token){tail}")
    api = HfApi(endpoint=endpoint, token=token)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        info = pool.submit(api.whoami).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        message = f"cannot push to the Hub: {where} did not answer within {timeout:g} s{tail}"
        raise HubUnavailableError(message) from None
    except (OSError, hub_httpx.HTTPError) as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        reason = "the token was refused (HTTP 401: log in again)" if status == 401 else \
            f"{where} cannot be reached ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
        raise HubUnavailableError(f"cannot push to the Hub: {reason}{tail}") from None
    finally:
        pool.shutdown(wait=False)
    role = (((info.get("auth") or {}).get("accessToken") or {}).get("role"))
    if role == "read":
        raise HubUnavailableError(f"cannot push to the Hub: the token of {info.get('name')} is read-only{tail}")
    return str(info.get("name"))
