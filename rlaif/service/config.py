"""The service's settings: one pydantic model, filled by ``rlaif serve`` (or by a test or a program)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, model_validator

from rlaif.jobs.spec import JudgeSpec, PanelMember

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MEMBER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ServeConfig(BaseModel):
    judge: JudgeSpec = Field(default_factory=JudgeSpec, description="The one judge every request shares.")
    panel: dict[str, PanelMember] = Field(default_factory=dict, description="Judges that clients may name as "
                                          "members of a panel (name -> spec, options, calibration, weight); only "
                                          "the operator sets them (recipe key 'panel'). A member with the spec and "
                                          "options of 'judge' is the service's own loaded judge.")
    host: str = Field("127.0.0.1", description="Address to bind; loopback unless you mean to expose the service.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port).")
    data_dir: str = Field("rlaif-data", description="Folder for the service's database (API keys, jobs), uploads and job outputs.")
    max_batch: int = Field(32, ge=1, description="Most items coalesced into one judge call.")
    max_wait_ms: float = Field(10.0, ge=0, description="Longest a request waits for others to share its batch.")
    no_auth: bool = Field(False, description="Serve without API keys (only allowed on a loopback address).")
    max_body_bytes: int = Field(8 * 2**20, ge=1024, description="Largest request body; larger ones get 413.")
    max_upload_bytes: int = Field(4 * 2**30, ge=1024, description="Largest input file uploaded for a job.")
    max_jobs_per_key: int = Field(16, ge=1, description="Most unfinished (queued or running) batch jobs of one key; "
                                  "another is 429 until one finishes or is cancelled.")
    max_key_upload_bytes: int = Field(16 * 2**30, ge=1024, description="Most bytes of one key's uploads together "
                                      "(a file counts at least 4 KiB); more is 413.")
    max_items: int = Field(1024, ge=1, description="Most pairs/items/queries in one request.")
    max_field_chars: int = Field(200_000, ge=16, description="Longest text field of one item.")
    max_samples: int = Field(256, ge=1, description="Most sampled answers or candidates per prompt a request's "
                             "settings may ask for (sampling.samples, sampling.auto_max, generate's sampling.n).")
    max_new_tokens: int = Field(4096, ge=1, description="Most tokens of one generated text a request's settings may "
                                "ask for (sampled answers, rationales, reasoning budget, candidates).")
    header_timeout: float = Field(10.0, gt=0, description="Seconds a connection may take to send a request's "
                                  "headers (from its start, or the end of its last response), and may pause within "
                                  "its body; then it is closed.")
    keep_alive_timeout: int = Field(5, ge=1, description="Seconds an idle keep-alive connection stays open.")
    max_header_bytes: int = Field(64 * 1024, ge=1024, description="Largest request head (request line and headers).")
    max_connections: int = Field(1024, ge=1, description="Most open connections; more get 503.")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="How long a review-UI login lasts.")
    behind_tls: bool = Field(False, description="Clients reach the service over https (a TLS reverse proxy): "
                                                "the UI's session cookie is marked Secure.")

    @model_validator(mode="after")
    def _member_names(self) -> "ServeConfig":
        for name in self.panel:
            if not MEMBER_NAME.match(name):
                raise ValueError(f"panel member name {name!r}: use letters, digits, '.', '-', '_' (at most 64)")
        return self

    @model_validator(mode="after")
    def _auth_only_off_on_loopback(self) -> "ServeConfig":
        if self.no_auth and self.host not in LOOPBACK:
            raise ValueError(f"--no-auth is only allowed on a loopback address, not {self.host}")
        return self
