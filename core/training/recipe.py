"""JumpStart model recipes: everything a fine-tuning job needs, read from the model's JumpStart spec.

The spec is read through sagemaker-core's spec accessors (imported lazily: about 2 s). With
``spec_root`` the SDK reads a local directory in its own offline layout
(``<root>/manifest/models_manifest.json`` and ``<root>/specs/<spec_key>``) and makes no network
call; without it the SDK reads the public JumpStart content bucket with the user's credentials.
Call :func:`load_recipe` off the UI thread; cache the result with :meth:`Recipe.to_json`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

DEFAULT_MODEL_ID = "meta-textgeneration-llama-3-2-3b"
DEFAULT_REGION = "us-east-1"
BUNDLED_SPEC_ROOT = Path(__file__).resolve().parents[1] / "data" / "jumpstart"
"""Offline spec set shipped for ``--demo``: tunedeck's own derived specs for :data:`KNOWN_MODELS`."""

MANIFEST_DIR_ENV = "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE"
SPECS_DIR_ENV = "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE"
SDK_CONFIG_ENV = "SAGEMAKER_USER_CONFIG_OVERRIDE"
RECIPE_FORMAT = 1

_SDK_CONFIG_TELEMETRY_OFF = (
    "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
)
_DEFAULT_MAX_RUN_SECONDS = 24 * 60 * 60  # SDK v2 estimator default when the spec has no max_run
_DEFAULT_VOLUME_GB = 30  # SDK v2 estimator default when the spec has no training_volume_size


class KnownModel(NamedTuple):
    model_id: str
    label: str


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("meta-textgeneration-llama-3-2-1b", "Llama 3.2 1B"),
    KnownModel("meta-textgeneration-llama-3-2-1b-instruct", "Llama 3.2 1B Instruct"),
    KnownModel("meta-textgeneration-llama-3-2-3b", "Llama 3.2 3B"),
    KnownModel("meta-textgeneration-llama-3-2-3b-instruct", "Llama 3.2 3B Instruct"),
    KnownModel("meta-textgeneration-llama-3-1-8b", "Llama 3.1 8B"),
    KnownModel("meta-textgeneration-llama-3-1-8b-instruct", "Llama 3.1 8B Instruct"),
)


class RecipeError(ValueError):
    """The model's JumpStart spec could not be read or is unusable for fine-tuning."""


def instance_family(instance_type: str) -> str:
    """``"ml.g5.2xlarge"`` -> ``"g5"``."""
    parts = instance_type.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "ml" else ""


def _frozen_map(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


def _frozen_nested(data: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({key: _frozen_map(value) for key, value in data.items()})


@dataclass(frozen=True)
class HyperparameterSpec:
    name: str
    type: str  # "int" | "float" | "text"
    default: str
    min: int | float | None = None
    max: int | float | None = None
    options: tuple[str, ...] | None = None
    scope: str = "algorithm"  # "algorithm" (the user's) or "container" (sagemaker_* launch settings)

    @property
    def is_boolean(self) -> bool:
        return self.options is not None and set(self.options) == {"True", "False"}

    @property
    def user_settable(self) -> bool:
        return self.scope == "algorithm"


@dataclass(frozen=True)
class Recipe:
    """A resolved JumpStart model, as far as fine-tuning and later deployment need it.

    Mappings are read-only views; every value that goes into a request is already a string.
    """

    model_id: str
    model_version: str
    region: str
    hyperparameters: tuple[HyperparameterSpec, ...]
    default_hyperparameters: Mapping[str, str]  # algorithm + container scope, spec order
    instance_hyperparameter_overrides: Mapping[str, Mapping[str, str]]  # instance type -> changed defaults
    metric_definitions: tuple[Mapping[str, str], ...]  # {"Name": ..., "Regex": ...}
    supported_training_instance_types: tuple[str, ...]
    default_training_instance_type: str
    training_image_uri: str  # for the default training instance type
    training_image_uri_by_instance: Mapping[str, str]
    training_script_uri: str  # prepacked sourcedir.tar.gz, the `code` channel
    training_artifact_uri: str  # generic artifact (model_uris, scope training)
    gated_training_artifact_uris: Mapping[str, str]  # instance family -> SageMakerGatedModelS3Uri
    training_volume_size_gb: int
    max_runtime_seconds: int
    enable_network_isolation: bool
    encrypt_inter_container_traffic: bool
    disable_output_compression: bool
    eula_required: bool
    eula_uri: str | None
    hosting_image_uri: str | None  # for the default inference instance type
    hosting_env: Mapping[str, str]
    hosting_env_overrides: Mapping[str, Mapping[str, str]]  # inference instance type -> changed env
    hosting_artifact_uri: str | None
    supported_inference_instance_types: tuple[str, ...]
    default_inference_instance_type: str | None
    inference_enable_network_isolation: bool
    _by_name: Mapping[str, HyperparameterSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in (
            "default_hyperparameters",
            "training_image_uri_by_instance",
            "gated_training_artifact_uris",
            "hosting_env",
        ):
            set_(self, name, _frozen_map(getattr(self, name)))
        for name in ("instance_hyperparameter_overrides", "hosting_env_overrides"):
            set_(self, name, _frozen_nested(getattr(self, name)))
        set_(self, "hyperparameters", tuple(self.hyperparameters))
        set_(self, "metric_definitions", tuple(_frozen_map(m) for m in self.metric_definitions))
        set_(self, "supported_training_instance_types", tuple(self.supported_training_instance_types))
        set_(self, "supported_inference_instance_types", tuple(self.supported_inference_instance_types))
        set_(self, "_by_name", MappingProxyType({h.name: h for h in self.hyperparameters}))

    def hyperparameter(self, name: str) -> HyperparameterSpec | None:
        return self._by_name.get(name)

    def defaults_for(self, instance_type: str | None) -> dict[str, str]:
        """The spec's default hyperparameters (strings) for this instance type."""
        merged = dict(self.default_hyperparameters)
        if instance_type:
            merged.update(self.instance_hyperparameter_overrides.get(instance_type, {}))
        return merged

    def training_image_for(self, instance_type: str) -> str:
        return self.training_image_uri_by_instance.get(instance_type, self.training_image_uri)

    def gated_artifact_for(self, instance_type: str) -> str | None:
        """The instance family's ``SageMakerGatedModelS3Uri`` value, or None if the spec has none."""
        return self.gated_training_artifact_uris.get(instance_family(instance_type))

    def to_json(self) -> str:
        data: dict[str, Any] = {"recipe_format": RECIPE_FORMAT}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if f.name == "hyperparameters":
                value = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(h).items()} for h in value]
            data[f.name] = _plain(value)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            data = json.loads(text)
            if data.pop("recipe_format", None) != RECIPE_FORMAT:
                raise RecipeError("cached recipe has an unknown format; reload it from the spec")
            data["hyperparameters"] = tuple(
                HyperparameterSpec(**{**h, "options": tuple(h["options"]) if h.get("options") is not None else None})
                for h in data["hyperparameters"]
            )
            return cls(**data)
        except RecipeError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise RecipeError(f"cached recipe is unreadable: {exc}") from exc


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


# --- loading ---------------------------------------------------------------------------------

_LOAD_LOCK = threading.Lock()


def spec_root_for(config: Any) -> Path | None:
    """Where specs come from: the bundled set under the demo or sandbox switch (`config.emulated`,
    never inferred from AWS_ENDPOINT_URL), else a `[jumpstart] spec_root` mirror, else None: the
    SDK's own way (its offline variables when set, else the JumpStart content bucket)."""
    if getattr(config, "emulated", False):
        return BUNDLED_SPEC_ROOT
    root = str(getattr(config.jumpstart, "spec_root", "") or "")
    return Path(root).expanduser() if root else None


def _sdk_offline_dirs() -> tuple[str, str] | None:
    """The SDK's own offline variables, when the user set both."""
    manifest, specs = os.environ.get(MANIFEST_DIR_ENV, ""), os.environ.get(SPECS_DIR_ENV, "")
    return (manifest, specs) if manifest and specs else None


def load_recipe(
    model_id: str,
    model_version: str = "*",
    region: str = DEFAULT_REGION,
    *,
    spec_root: Path | None = None,
    profile: str = "",
) -> Recipe:
    """Resolve a JumpStart model into a :class:`Recipe` (blocking; seconds on first use).

    ``model_version="*"`` resolves to the newest version in the manifest; the recipe records the
    resolved version, pin that one afterwards. Online, the spec bucket is read with the named AWS
    ``profile`` (empty: the standard credential chain). Raises :class:`RecipeError`.
    """
    root = str(Path(spec_root).resolve()) if spec_root is not None else None
    return _load_recipe_cached(model_id, model_version, region, root, profile or "", _sdk_offline_dirs())


def clear_recipe_cache() -> None:
    """Forget recipes loaded in this process (e.g. after the spec directory changed)."""
    _load_recipe_cached.cache_clear()


@lru_cache(maxsize=32)
def _load_recipe_cached(
    model_id: str,
    model_version: str,
    region: str,
    spec_root: str | None,
    profile: str = "",
    sdk_offline: tuple[str, str] | None = None,
) -> Recipe:
    offline = spec_root is not None or sdk_offline is not None
    with _LOAD_LOCK, _sdk_environment(Path(spec_root) if spec_root else None), _quiet_sdk_logs():
        try:
            return _read_recipe(model_id, model_version, region, offline=offline, profile=profile)
        except RecipeError:
            raise
        except Exception as exc:  # the SDK raises KeyError/ValueError/botocore errors alike
            reason = " ".join(str(exc).split()) or type(exc).__name__  # the SDK's own reason, on one line
            raise RecipeError(
                f"cannot read the JumpStart spec of {model_id} {model_version} in {region}: {reason}"
            ) from exc


def _telemetry_off_config() -> Path:
    uid = getattr(os, "getuid", lambda: "user")()
    path = Path(tempfile.gettempdir()) / f"tunedeck-{uid}" / "sagemaker-config.yaml"
    if not path.is_file() or path.read_text() != _SDK_CONFIG_TELEMETRY_OFF:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_SDK_CONFIG_TELEMETRY_OFF)
        tmp.replace(path)
    return path


@contextmanager
def _sdk_environment(spec_root: Path | None) -> Iterator[None]:
    """Point the SDK at the offline spec tree and turn its telemetry off; restore on exit."""
    wanted = {SDK_CONFIG_ENV: str(_telemetry_off_config())}
    if spec_root is not None:
        manifest_dir, specs_dir = spec_root / "manifest", spec_root / "specs"
        for path in (manifest_dir, specs_dir):
            if not path.is_dir():
                raise RecipeError(f"offline JumpStart spec directory {path} does not exist")
        if not (manifest_dir / "models_manifest.json").is_file():
            raise RecipeError(f"offline JumpStart spec directory has no {manifest_dir / 'models_manifest.json'}")
        wanted |= {
            MANIFEST_DIR_ENV: str(manifest_dir),
            SPECS_DIR_ENV: str(specs_dir),
            # offline: never let a credential lookup reach the instance metadata service
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    saved = {name: os.environ.get(name) for name in (*wanted, MANIFEST_DIR_ENV, SPECS_DIR_ENV)}
    try:  # without spec_root the SDK's own offline variables, if the user set them, stay as they are
        os.environ.update(wanted)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """The SDK's JumpStart logger writes to stderr (it would tear through the TUI); mute it."""
    logger = logging.getLogger("sagemaker.jumpstart")
    saved = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved)


_SESSIONS: dict[tuple[str, bool, str], Any] = {}


def _sdk_session(region: str, *, offline: bool, profile: str = "") -> Any:
    """A SageMaker session for the region; offline ones carry placeholder credentials so that
    nothing ever looks up (or could send) real ones."""
    key = (region, offline, "" if offline else profile)
    if key not in _SESSIONS:
        import boto3
        from sagemaker.core.helper.session_helper import Session

        if offline:
            boto_session = boto3.Session(
                aws_access_key_id="offline", aws_secret_access_key="offline", region_name=region
            )
        else:
            boto_session = boto3.Session(region_name=region, profile_name=profile or None)
        _SESSIONS[key] = Session(boto_session=boto_session)
    return _SESSIONS[key]


def _read_recipe(model_id: str, model_version: str, region: str, *, offline: bool, profile: str = "") -> Recipe:
    from sagemaker.core import (
        environment_variables,
        hyperparameters,
        image_uris,
        instance_types,
        metric_definitions,
        model_uris,
        script_uris,
    )
    from sagemaker.core.jumpstart import constants as js_constants
    from sagemaker.core.jumpstart.accessors import JumpStartModelsAccessor
    from sagemaker.core.jumpstart.enums import JumpStartScriptScope

    launched = js_constants.JUMPSTART_REGION_NAME_TO_LAUNCHED_REGION_DICT.get(region)
    if launched is None:
        raise RecipeError(f"JumpStart is not available in region {region!r}")
    session = _sdk_session(region, offline=offline, profile=profile)
    # A fresh spec cache bound to our session's client: specs read from another spec root (or
    # online) must not leak in; presetting the buckets stops the SDK from replacing the cache
    # with one on a default client (which would look up credentials).
    JumpStartModelsAccessor.reset_cache({"s3_client": session.s3_client}, region)
    JumpStartModelsAccessor.set_jumpstart_content_bucket(launched.content_bucket)
    JumpStartModelsAccessor.set_jumpstart_gated_content_bucket(launched.gated_content_bucket)
    try:
        specs = JumpStartModelsAccessor.get_model_specs(
            region=region, model_id=model_id, version=model_version, s3_client=session.s3_client
        )
    except KeyError as exc:
        raise RecipeError(f"no JumpStart model {model_id!r} version {model_version!r} in {region}") from exc
    if not specs.training_supported:
        raise RecipeError(f"{model_id} {specs.version} does not support fine-tuning")
    version = specs.version
    kw = {"region": region, "model_id": model_id, "model_version": version, "sagemaker_session": session}

    supported = list(instance_types.retrieve(scope="training", **kw))
    default_instance = instance_types.retrieve_default(scope="training", **kw)
    if not supported:
        raise RecipeError(f"{model_id} {version} lists no training instance types")

    defaults = hyperparameters.retrieve_default(include_container_hyperparameters=True, **kw)
    overrides: dict[str, dict[str, str]] = {}
    images: dict[str, str] = {}
    gated: dict[str, str] = {}
    for instance_type in supported:
        per_instance = hyperparameters.retrieve_default(
            include_container_hyperparameters=True, instance_type=instance_type, **kw
        )
        changed = {k: v for k, v in per_instance.items() if defaults.get(k) != v}
        if changed:
            overrides[instance_type] = changed
        images[instance_type] = image_uris.retrieve(
            framework=None, image_scope="training", instance_type=instance_type, **kw
        )
        env = environment_variables.retrieve_default(
            instance_type=instance_type, script=JumpStartScriptScope.TRAINING, **kw
        )
        gated_uri = env.get(js_constants.SAGEMAKER_GATED_MODEL_S3_URI_TRAINING_ENV_VAR_KEY)
        if gated_uri:
            gated.setdefault(instance_family(instance_type), gated_uri)

    estimator_kwargs = specs.estimator_kwargs or {}
    eula_uri = None
    if specs.hosting_eula_key:
        from sagemaker.core.common_utils import get_domain_for_region

        eula_uri = (
            f"https://{launched.content_bucket}.s3.{region}.{get_domain_for_region(region)}/{specs.hosting_eula_key}"
        )

    inference_types = list(specs.supported_inference_instance_types or [])
    default_inference = specs.default_inference_instance_type
    hosting_image = hosting_artifact = None
    hosting_env: dict[str, str] = {}
    hosting_overrides: dict[str, dict[str, str]] = {}
    if default_inference:
        hosting_image = image_uris.retrieve(
            framework=None, image_scope="inference", instance_type=default_inference, **kw
        )
        hosting_artifact = model_uris.retrieve(model_scope="inference", instance_type=default_inference, **kw)
        hosting_env = environment_variables.retrieve_default(include_aws_sdk_env_vars=True, **kw)
        for instance_type in inference_types:
            env = environment_variables.retrieve_default(
                include_aws_sdk_env_vars=True, instance_type=instance_type, **kw
            )
            changed = {k: v for k, v in env.items() if hosting_env.get(k) != v}
            if changed:
                hosting_overrides[instance_type] = changed

    return Recipe(
        model_id=model_id,
        model_version=version,
        region=region,
        hyperparameters=tuple(
            HyperparameterSpec(
                name=h.name,
                type=h.type,
                default=defaults.get(h.name, str(h.default)),
                min=getattr(h, "min", None),
                max=getattr(h, "max", None),
                options=tuple(str(o) for o in h.options) if getattr(h, "options", None) else None,
                scope=h.scope,
            )
            for h in specs.hyperparameters
        ),
        default_hyperparameters=defaults,
        instance_hyperparameter_overrides=overrides,
        metric_definitions=tuple(
            {"Name": m["Name"], "Regex": m["Regex"]} for m in metric_definitions.retrieve_default(**kw) or []
        ),
        supported_training_instance_types=tuple(supported),
        default_training_instance_type=default_instance,
        training_image_uri=images.get(default_instance)
        or image_uris.retrieve(framework=None, image_scope="training", instance_type=default_instance, **kw),
        training_image_uri_by_instance=images,
        training_script_uri=script_uris.retrieve(script_scope="training", **kw),
        training_artifact_uri=model_uris.retrieve(model_scope="training", **kw),
        gated_training_artifact_uris=gated,
        training_volume_size_gb=int(specs.training_volume_size or _DEFAULT_VOLUME_GB),
        max_runtime_seconds=int(estimator_kwargs.get("max_run") or _DEFAULT_MAX_RUN_SECONDS),
        enable_network_isolation=bool(specs.training_enable_network_isolation),
        encrypt_inter_container_traffic=bool(estimator_kwargs.get("encrypt_inter_container_traffic", False)),
        disable_output_compression=bool(estimator_kwargs.get("disable_output_compression", False)),
        eula_required=bool(specs.is_gated_model()),
        eula_uri=eula_uri,
        hosting_image_uri=hosting_image,
        hosting_env=hosting_env,
        hosting_env_overrides=hosting_overrides,
        hosting_artifact_uri=hosting_artifact,
        supported_inference_instance_types=tuple(inference_types),
        default_inference_instance_type=default_inference,
        inference_enable_network_isolation=bool(specs.inference_enable_network_isolation),
    )
