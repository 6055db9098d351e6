"""The agent's configuration file, `%ProgramData%\\Transom\\agent.yaml` (posix:
`/etc/transom/agent.yaml`): where the cluster is, who this host is there and how it proves it,
what the cluster may do to it, and how often it checks.

One typed model from the file inward; command-line flags override its fields (they are merged
into the document before validation, so a bad flag is reported like a bad field). Errors name the
field, the value and what is allowed, and never show a secret's value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from transom.agent.credentials.azure import AKS_SERVER_APP_ID, ARC_URL, IMDS_URL
from transom.api.errors import FieldError, SpecError, join_path
from transom.api.host import HOST_LEASE_DURATION_SECONDS, HOST_LEASE_RENEW_SECONDS
from transom.api.names import check_host_name
from transom.engine.policy import HostPolicy, load_policy
from transom.kube.address import AddressError, parse_address

#: Fields whose values are never shown in an error (they hold a `SecretRef`, or may).
_CONCEALED = frozenset({"clientSecret", "value", "env", "args"})


def default_state_dir() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Transom" / "agent"
    return Path("/var/lib/transom/agent")


def default_config_path() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Transom" / "agent.yaml"
    return Path("/etc/transom/agent.yaml")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class SecretRef(_Model):
    """A secret given inline (`clientSecret: s3cret`) or, better, read from a file only the
    agent's account can read (`clientSecret: {file: C:\\ProgramData\\Transom\\oidc.secret}`)."""

    value: SecretStr | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.value is None) == (self.file is None):
            raise ValueError("give the secret inline or as {file: PATH}, exactly one")
        return self

    def reveal(self) -> str:
        """The secret itself; a file's trailing newline is not part of it."""
        if self.value is not None:
            return self.value.get_secret_value()
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise ConfigError(
                [FieldError(str(self.file), f"cannot read secret file: {e.strerror}")]
            ) from None


def _https(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError("must be an https:// URL")
    return url.rstrip("/")


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return url


class EnrollmentCredentials(_Model):
    """A client certificate from `transom agent enroll`, kept in the state directory and
    rotated before it expires."""

    source: Literal["enrollment"] = "enrollment"
    certificate_lifetime_seconds: int = Field(default=86_400, ge=600)
    rotation_fraction: float = Field(default=0.7, gt=0, lt=1)


class EksCredentials(_Model):
    """A presigned STS GetCallerIdentity token, as `aws eks get-token` makes it. AWS
    credentials come from botocore's default chain, or from `profile` in the shared config file
    (IAM Roles Anywhere: a profile whose `credential_process` runs `aws_signing_helper`); with
    `roleArn` the agent first assumes that role."""

    source: Literal["eks"]
    cluster_name: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[-a-z]*:iam::\d{12}:role/.+$")
    #: The assumed role's session name; EKS can map it (`{{SessionName}}`). Default: host name.
    role_session_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{2,64}$")
    profile: str | None = None
    aws_config_file: Path | None = None


class EntraCredentials(_Model):
    """An Azure VM's managed identity (IMDS). Without `clientId` or `resourceId`, the
    system-assigned identity; with one of them, that user-assigned identity."""

    source: Literal["entra"]
    resource: str = AKS_SERVER_APP_ID
    client_id: str | None = None
    resource_id: str | None = Field(default=None, pattern=r"^/subscriptions/.+")
    endpoint: str = IMDS_URL

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return _http_url(v)

    @model_validator(mode="after")
    def _one_identity(self) -> EntraCredentials:
        if self.client_id is not None and self.resource_id is not None:
            raise ValueError("give clientId or resourceId, not both")
        return self


class ArcCredentials(_Model):
    """An Azure Arc-enabled server's identity through the Arc agent's local challenge endpoint
    (401, then the contents of a key file only administrators can read)."""

    source: Literal["arc"]
    resource: str = AKS_SERVER_APP_ID
    endpoint: str = ARC_URL
    #: Where the Arc agent writes challenge key files; only a key file here is ever read.
    token_directory: Path | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return _http_url(v)


class ClientAssertion(_Model):
    """private_key_jwt (RFC 7523): assertions signed with this key (RSA or P-256, PEM); with the
    certificate, named by thumbprint as Entra ID and AD FS expect."""

    key_file: Path
    certificate_file: Path | None = None
    key_id: str | None = None


class OidcCredentials(_Model):
    """The client credentials grant against an OpenID Connect issuer (AD FS, an Entra ID app
    registration), with a client secret or a certificate assertion."""

    source: Literal["oidc"]
    issuer: str
    client_id: str = Field(min_length=1)
    client_secret: SecretRef | None = None
    client_assertion: ClientAssertion | None = None
    auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    scope: str | None = None
    resource: str | None = None
    use: Literal["access_token", "id_token"] = "access_token"
    token_endpoint: str | None = None
    #: CA bundle for the issuer's TLS, when it is private.
    issuer_certificate_authority: Path | None = None

    @field_validator("issuer", "token_endpoint")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return None if v is None else _https(v)

    @model_validator(mode="after")
    def _one_proof(self) -> OidcCredentials:
        if (self.client_secret is None) == (self.client_assertion is None):
            raise ValueError("give clientSecret or clientAssertion, exactly one")
        return self


class ExecEnv(_Model):
    name: str = Field(min_length=1)
    value: SecretRef


class ExecCredentials(_Model):
    """A kubeconfig exec plugin (client.authentication.k8s.io): any command that prints an
    ExecCredential. Give it by absolute path: a service must not search PATH."""

    source: Literal["exec"]
    command: Path
    args: tuple[str, ...] = ()
    env: tuple[ExecEnv, ...] = ()
    api_version: Literal[
        "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"
    ] = "client.authentication.k8s.io/v1"

    @field_validator("command")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        if not v.is_absolute():
            raise ValueError("must be an absolute path (a service never searches PATH)")
        return v


class KubeconfigCredentials(_Model):
    """Whatever a kubeconfig's user holds: a token, a client certificate or an exec plugin."""

    source: Literal["kubeconfig"]
    path: Path
    context: str | None = None


Credentials = Annotated[
    EnrollmentCredentials
    | EksCredentials
    | EntraCredentials
    | ArcCredentials
    | OidcCredentials
    | ExecCredentials
    | KubeconfigCredentials,
    Field(discriminator="source"),
]


class MetricsSettings(_Model):
    """`metrics: {address: 127.0.0.1:9464}`: serve Prometheus metrics at
    http://ADDRESS/metrics. A bare port listens on loopback only; every interface must be named
    (`0.0.0.0:9464`)."""

    address: str

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str):
            try:
                parse_address(v)
            except AddressError as e:
                raise ValueError(str(e)) from None
        return v

    @property
    def listen(self) -> tuple[str, int]:
        return parse_address(self.address)


class AgentConfiguration(_Model):
    """The whole file. Every field is optional except what the credential source needs."""

    api_version: Literal["transom.dev/v1alpha1"] = "transom.dev/v1alpha1"
    kind: Literal["AgentConfiguration"] = "AgentConfiguration"
    #: The apiserver URL. Enrollment stores it in the state directory; other sources need it.
    server: str | None = None
    #: CA bundle (PEM file) of the apiserver; default: the system's trust store.
    certificate_authority: Path | None = None
    host_name: str | None = None
    state_dir: Path = Field(default_factory=default_state_dir)
    credentials: Credentials = Field(default_factory=EnrollmentCredentials)
    #: The host's policy, inline; or `policyFile`. Neither: the agent's default policy.
    policy: HostPolicy | None = None
    policy_file: Path | None = None
    #: Only manage paths under these folders: narrows the policy's path roots.
    roots: tuple[str, ...] = ()
    lease_duration_seconds: int = Field(default=HOST_LEASE_DURATION_SECONDS, ge=10, le=3600)
    renew_interval_seconds: float = Field(default=HOST_LEASE_RENEW_SECONDS, gt=0, le=600)
    drift_interval_seconds: float = Field(default=300.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: No metrics endpoint unless asked for.
    metrics: MetricsSettings | None = None

    @field_validator("server")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        return None if v is None else _https(v)

    @field_validator("host_name")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return None if v is None else check_host_name(v)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _coherent(self) -> AgentConfiguration:
        if self.policy is not None and self.policy_file is not None:
            raise ValueError("give policy or policyFile, not both")
        if self.credentials.source not in ("enrollment", "kubeconfig"):
            missing = [
                n for n, v in (("server", self.server), ("hostName", self.host_name)) if not v
            ]
            if missing:
                raise ValueError(
                    f"credentials source {self.credentials.source!r} needs " + " and ".join(missing)
                )
        if self.credentials.source == "kubeconfig" and not self.host_name:
            raise ValueError("credentials source 'kubeconfig' needs hostName")
        return self

    def ca_pem(self) -> bytes | None:
        return read_file(self.certificate_authority, "certificateAuthority")

    def host_policy(self) -> HostPolicy | None:
        """The inline policy, or the policy file's; None when neither is given."""
        if self.policy_file is not None:
            return load_policy(self.policy_file)
        return self.policy


def read_file(path: Path | None, field: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError([FieldError(field, f"cannot read {str(path)!r}: {e.strerror}")]) from None


class ConfigError(SpecError):
    """The configuration is unusable; each line names the field, the value and what is
    allowed."""


def load_config(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> AgentConfiguration:
    """The file at ``path`` (default: `default_config_path()`; a missing default file is an empty
    configuration), with ``overrides`` (camelCase keys, None meaning "not given") on top."""
    explicit = path is not None
    path = path or default_config_path()
    doc: Any = {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        if explicit:
            raise ConfigError([FieldError(str(path), "file not found")]) from None
    except OSError as e:
        raise ConfigError([FieldError(str(path), f"cannot read: {e.strerror}")]) from None
    except yaml.YAMLError as e:
        raise ConfigError([FieldError(str(path), f"not valid YAML: {e}")]) from None
    if not isinstance(doc, dict):
        raise ConfigError([FieldError(str(path), "must be a mapping of fields")])
    return validate(merge(doc, overrides or {}), str(path))


#: A flag for the first field replaces the file's second (they are alternatives).
_REPLACES = {"policyFile": "policy"}
#: What a mapping the file leaves out stands for, when a flag sets one of its fields.
_IMPLIED: dict[str, Mapping[str, Any]] = {"credentials": {"source": "enrollment"}}


def merge(doc: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` on top of ``doc``: None (or empty) means "not given"; a mapping merges
    into the file's mapping (`credentials: {rotationFraction: ...}`)."""
    out = dict(doc)
    for key, given in overrides.items():
        if given is None or given in ((), []):
            continue
        value = given
        if isinstance(given, Mapping):
            value = merge({}, given)
            if not value:
                continue
            base = out.get(key)
            value = merge(base if isinstance(base, Mapping) else _IMPLIED.get(key, {}), value)
        out[key] = value
        if key in _REPLACES:
            out.pop(_REPLACES[key], None)
    return out


def validate(doc: Mapping[str, Any], where: str) -> AgentConfiguration:
    try:
        return AgentConfiguration.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(field_errors(where, exc)) from None


def field_errors(where: str, error: ValidationError) -> list[FieldError]:
    """Like `transom.api.errors.from_pydantic`, but an unknown field lists the allowed ones and
    no value is shown under a field that may hold a secret."""
    out = []
    for e in error.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = allowed_fields(loc[:-1])
            message = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "source")
            got = e.get("ctx", {}).get("tag")
            message = "unknown credentials source" if got else "missing credentials source"
            message += f"; allowed: {', '.join(SOURCES)}" + _shown(got, loc)
        elif e["type"] != "missing":
            message += _shown(e.get("input"), loc)
        # The file says `credentials: {source: oidc, issuer: ...}`: the union's tag is no level.
        if len(loc) > 2 and loc[0] == "credentials" and loc[1] in SOURCES:
            loc = (loc[0], *loc[2:])
        out.append(FieldError(join_path("", loc), message))
    return [FieldError(where, str(f)) for f in out] if where else out


def _shown(value: Any, loc: Sequence[str | int]) -> str:
    concealed = any(p in _CONCEALED for p in loc)
    if concealed or not isinstance(value, str | int | float | bool) or len(repr(value)) > 80:
        return ""
    return f" (got {value!r})"


def allowed_fields(loc: Sequence[str | int]) -> list[str]:
    """The camelCase field names of the model found at ``loc`` (empty when not a model)."""
    model: type[BaseModel] | None = AgentConfiguration
    after_credentials = False
    for part in loc:
        if isinstance(part, int):
            continue
        if after_credentials:
            model, after_credentials = CREDENTIAL_MODELS.get(str(part)), False
            continue
        field = None if model is None else _field(model, str(part))
        if field is None:
            return []
        after_credentials = model is AgentConfiguration and part == "credentials"
        model = None if after_credentials else _model_in(field.annotation)
    if model is None:
        return []
    return [str(f.alias or n) for n, f in model.model_fields.items()]


def _field(model: type[BaseModel], name: str) -> Any:
    return next((f for n, f in model.model_fields.items() if name in (f.alias, n)), None)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, through Optional and tuple[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


CREDENTIAL_MODELS: dict[str, type[BaseModel]] = {
    get_args(m.model_fields["source"].annotation)[0]: m
    for m in (
        EnrollmentCredentials,
        EksCredentials,
        EntraCredentials,
        ArcCredentials,
        OidcCredentials,
        ExecCredentials,
        KubeconfigCredentials,
    )
}
SOURCES = tuple(CREDENTIAL_MODELS)
