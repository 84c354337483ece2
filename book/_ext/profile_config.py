"""Sphinx extension of the book: ``unlearnbook_profile``, the profile whose results this build
shows (from ``book/generated/meta.json``, written by ``unlearnbook report``), so that a chapter's
profile-dependent text sits in ``{ifconfig} unlearnbook_profile == "smoke"`` blocks and leaves
the other builds' pages entirely (not hidden: absent); and the ``{{ repository }}`` substitution,
a link to the book's repository from the one setting a fork changes (``repository.url`` in
``_config.yml``). It also drops the second copy of a script a page would load twice (the
same inline configuration of sphinx-thebe and sphinx-togglebutton arrives once with filename
None and once with "", which Sphinx counts as two; a ``const`` declared twice is a JavaScript
error on every page)."""
import json
from pathlib import Path

#: the placeholder ``repository.url`` ships with, until a fork names itself
PLACEHOLDER = "/OWNER/"


def repository_text(url: str) -> str:
    """A Markdown link to the repository, or, while ``url`` is the placeholder, where to set it."""
    if url and PLACEHOLDER not in url:
        return f"[the repository]({url})"
    return "the repository (a fork sets its address once: `repository.url` in `_config.yml`)"


def _substitutions(app, config):
    url = (config.html_theme_options or {}).get("repository_url", "")
    config.myst_substitutions = {**(config.myst_substitutions or {}),
                                 "repository": repository_text(url)}


def _one_of_each_script(app, pagename, templatename, context, doctree):
    """Keep the first of each identical script (same file, same attributes or inline body)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (str(getattr(script, "filename", script) or ""),  # an inline one: None or ""
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    meta = Path(app.srcdir) / "book" / "generated" / "meta.json"
    profile = json.loads(meta.read_text()).get("profile", "none") if meta.exists() else "none"
    app.add_config_value("unlearnbook_profile", profile, "env")
    app.setup_extension("sphinx.ext.ifconfig")
    app.connect("config-inited", _substitutions)
    app.connect("html-page-context", _one_of_each_script)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
