#!/usr/bin/env bash
# Installs the Label Studio server into its own virtualenv (.venv-labelstudio), once per pinned
# version: the annotation integration tests start this server; it is kept out of .venv because
# its pinned dependencies (Django, etc.) would fight the project's own. Also caches an empty,
# fully migrated SQLite database there, so each test session skips the minute of migrations.
set -euo pipefail

LABEL_STUDIO_VERSION="${LABEL_STUDIO_VERSION:-1.23.2}"
PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABEL_STUDIO_VENV:-$ROOT/.venv-labelstudio}"
STAMP="$VENV/.installed-label-studio-$LABEL_STUDIO_VERSION"
TEMPLATE="$VENV/template-db"

if [[ -f "$STAMP" && -x "$VENV/bin/label-studio" ]]; then
    echo "label-studio $LABEL_STUDIO_VERSION already installed in $VENV"
else
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "label-studio==$LABEL_STUDIO_VERSION"
    # An import check, not `label-studio --version`, which would touch ~/.local.
    installed="$("$VENV/bin/python" -c 'import label_studio; print(label_studio.__version__)')"
    if [[ "$installed" != "$LABEL_STUDIO_VERSION" ]]; then
        echo "label-studio: expected $LABEL_STUDIO_VERSION, found $installed" >&2
        exit 1
    fi
    rm -rf "$TEMPLATE" "$VENV"/.installed-label-studio-*
    touch "$STAMP"
    echo "label-studio $LABEL_STUDIO_VERSION installed in $VENV"
fi

if [[ ! -f "$TEMPLATE/label_studio.sqlite3" ]]; then
    # `label-studio version` applies every migration, then only prints: an empty database.
    rm -rf "$TEMPLATE.tmp" && mkdir -p "$TEMPLATE.tmp"
    env -i PATH="$PATH" HOME="$TEMPLATE.tmp" LABEL_STUDIO_BASE_DATA_DIR="$TEMPLATE.tmp" \
        DJANGO_DB=sqlite LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false SENTRY_DSN= \
        "$VENV/bin/label-studio" version >"$VENV/template-db.log" 2>&1
    mkdir -p "$TEMPLATE"
    mv "$TEMPLATE.tmp/label_studio.sqlite3" "$TEMPLATE/label_studio.sqlite3"
    rm -rf "$TEMPLATE.tmp"
    echo "migrated template database cached in $TEMPLATE"
fi
