"""The account mode of a session: `api` (tunedeck calls AWS: practice in one's own account) or
`console` (the event's account, used only through the SageMaker console: tunedeck makes no AWS call).

The mode is kept in the session; a new session takes `[league] account_mode` from the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from core.config import ACCOUNT_MODES, Config

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from core.store import Store

API, CONSOLE = ACCOUNT_MODES
MODE_META_KEY = "league.account_mode"

AWS_ACTIONS: Mapping[str, tuple[str, str]] = {
    # action: (what it would do, what to do instead in console mode)
    "launch": ("launch training jobs", "start the run in the JumpStart console from its plan card, then `runs add`"),
    "stop": ("stop training jobs", "stop it in the SageMaker console, then record its status with `runs edit`"),
    "poll": ("poll training jobs", "download the training log from CloudWatch and import it (`runs import-log`)"),
    "upload": ("upload datasets to S3", "export to a folder and upload its files in the console"),
    "deploy": ("deploy endpoints", "deploy the model in the SageMaker console"),
    "endpoints": ("list or delete endpoints", "manage endpoints in the SageMaker console"),
    "invoke": ("ask endpoints", "use an API twin's endpoint in the practice account, or the console playground"),
    "quotas": ("look up service quotas", "set the instance pool in [jumpstart.quotas]"),
    "spec": ("read JumpStart specs from AWS", "the bundled offline specs or a local spec mirror are used"),
}


class ConsoleModeError(RuntimeError):
    """Something tried to reach AWS in console mode; the message is the one-line reason."""


def account_mode(store: Store, config: Config) -> str:
    """The session's mode; a session that never chose one gets the config's default."""
    mode = store.get_meta(MODE_META_KEY)
    return mode if mode in ACCOUNT_MODES else config.league.account_mode


def set_account_mode(store: Store, mode: str) -> str:
    if mode not in ACCOUNT_MODES:
        raise ValueError(f"account mode must be 'api' or 'console', not {mode!r}")
    store.set_meta(MODE_META_KEY, mode)
    return mode


def unavailable_reason(action: str, mode: str) -> str | None:
    """None when `action` may run in this mode; else the one line that says why it does not."""
    if action not in AWS_ACTIONS:
        raise ValueError(f"unknown AWS action {action!r}; known: {', '.join(AWS_ACTIONS)}")
    if mode != CONSOLE:
        return None
    does, instead = AWS_ACTIONS[action]
    return f"console mode: tunedeck does not {does}; {instead}"


def no_aws_client(service: str) -> NoReturn:
    """A client factory for console mode: every attempt to make an AWS client fails with the reason."""
    raise ConsoleModeError(f"console mode: tunedeck makes no AWS call (wanted a {service} client)")


def aws_client_factory(store: Store, config: Config) -> Callable[[str], Any] | None:
    """The client factory a service of this session gets: None (real clients) in api mode, one that
    refuses every client in console mode."""
    return no_aws_client if account_mode(store, config) == CONSOLE else None
