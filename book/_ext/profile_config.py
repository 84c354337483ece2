"""Sphinx extension: ``unlearnbook_profile``, the profile whose results this build shows (from
``book/generated/meta.json``, written by ``unlearnbook report``), so that a chapter's
profile-dependent text sits in ``{ifconfig} unlearnbook_profile == "smoke"`` blocks and leaves
the other builds' pages entirely (not hidden: absent)."""
import json
from pathlib import Path


def setup(app):
    meta = Path(app.srcdir) / "book" / "generated" / "meta.json"
    profile = json.loads(meta.read_text()).get("profile", "none") if meta.exists() else "none"
    app.add_config_value("unlearnbook_profile", profile, "env")
    app.setup_extension("sphinx.ext.ifconfig")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
