"""Review 18 of the label config: a home photo's condition grade is required.

Label Studio's labelling UI checks `required` only for a control that is visible (its
RequiredMixin skips a Choices whose `isVisible` or whose parent View's `isVisible` is false),
so condition, hidden for not_dwelling, is required of home photos alone. The API checks no
`required` at all: these tests pin the config, that the server takes it, and that a project
made with the older config (condition optional) is found and brought up to date.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from annotation.client import Connection, connect
from annotation.label_config import PhotoLabels, build_label_config, result_from_labels
from annotation.project import ProjectConfigChangedError, open_project
from shanyraq.taxonomy import Taxonomy
from tests.annotation.project_helpers import init_on_server

from .label_studio_server_helpers import LabelStudioServer


def _parents(config: str) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.fromstring(config)
    parent_of = {child: parent for parent in root.iter() for child in parent}
    controls = {e.get("name", ""): e for e in root.iter("Choices")}
    return root, {name: parent_of[tag] for name, tag in controls.items()}


def test_condition_is_required_and_signs_stay_optional(taxonomy):
    root = ET.fromstring(build_label_config(taxonomy))
    required = {e.get("name"): e.get("required") for e in root.iter("Choices")}
    # "No sign" is an empty answer, so signs cannot be required.
    assert required == {"room": "true", "condition": "true", "signs": None}


def test_required_condition_sits_in_the_view_hidden_for_not_dwelling(taxonomy):
    """Label Studio skips `required` on a hidden control only through its own or its direct
    parent View's visibility: condition must stay a direct child of the hidden View."""
    root, parent = _parents(build_label_config(taxonomy))
    view = parent["condition"]
    assert view is not root and view.tag == "View"
    assert (view.get("visibleWhen"), view.get("whenTagName"), view.get("whenChoiceValue")) == (
        "choice-unselected",
        "room",
        taxonomy.not_dwelling,
    )
    assert parent["signs"] is view
    assert parent["room"] is root


def _older_config(taxonomy: Taxonomy) -> str:
    """The config as made before review 18: condition optional."""
    root = ET.fromstring(build_label_config(taxonomy))
    condition = next(e for e in root.iter("Choices") if e.get("name") == "condition")
    del condition.attrib["required"]
    return ET.tostring(root, encoding="unicode")


# --- against the real server -------------------------------------------------------------


@pytest.fixture(scope="module")
def conn(label_studio: LabelStudioServer) -> Connection:
    return connect(label_studio.url, label_studio.personal_token)


@pytest.mark.integration
@pytest.mark.slow
def test_the_server_takes_the_required_condition_and_a_not_dwelling_answer_without_it(
    conn, taxonomy, label_studio
):
    info = init_on_server(conn, "Review18 required condition", taxonomy, label_studio)
    stored = conn.sdk.projects.get(info.id).label_config
    _, parent = _parents(stored)
    condition = next(e for e in parent["condition"] if e.get("name") == "condition")
    assert condition.get("required") == "true"
    task = conn.sdk.tasks.create(project=info.id, data={"image": "/data/review18-a.jpg"})
    assert task.id is not None
    not_home = result_from_labels(taxonomy, PhotoLabels(taxonomy.not_dwelling, None, None))
    made = conn.sdk.annotations.create(
        task.id, result=not_home, completed_by=label_studio.annotator_ids[0]
    )
    assert [item["from_name"] for item in made.result or []] == ["room"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_project_with_the_older_optional_condition_is_found_and_updated(
    conn, taxonomy, label_studio
):
    title = "Review18 older config"
    info = init_on_server(conn, title, taxonomy, label_studio)
    conn.sdk.projects.update(info.id, label_config=_older_config(taxonomy))
    # Annotations made under the older config, one a home photo left without its grade.
    task = conn.sdk.tasks.create(project=info.id, data={"image": "/data/review18-b.jpg"})
    assert task.id is not None
    for who, labels in enumerate(
        [PhotoLabels("kitchen", None, frozenset()), PhotoLabels("bedroom", 2, frozenset())]
    ):
        conn.sdk.annotations.create(
            task.id,
            result=result_from_labels(taxonomy, labels),
            completed_by=label_studio.annotator_ids[who],
        )
    with pytest.raises(ProjectConfigChangedError, match="shanyraq annotate init"):
        open_project(conn, title=title, taxonomy=taxonomy)
    again = init_on_server(conn, title, taxonomy, label_studio)
    assert (again.id, again.created) == (info.id, False)
    assert open_project(conn, title=title, taxonomy=taxonomy) == info.id
    stored = ET.fromstring(conn.sdk.projects.get(info.id).label_config)
    required = {e.get("name"): e.get("required") for e in stored.iter("Choices")}
    assert required["condition"] == "true"
