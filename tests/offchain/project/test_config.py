"""othentic.toml: the templates' files load; a wrong file is refused with the key that is wrong."""

from __future__ import annotations

import pytest

from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.project import ProjectError, find_project, load_project
from othentic_offchain.project.scaffold import TEMPLATES, templates

MINIMAL = """
[project]
name = "demo"
[definitions.uppercase]
"""


def write(tmp_path, text: str):
    (tmp_path / "othentic.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("template", templates())
def test_every_template_declares_a_valid_project(template):
    project = load_project(TEMPLATES / template)
    assert project.definitions
    assert project.avs_file.is_file()


def test_defaults_and_amounts_become_the_chains_definition_params(tmp_path):
    project = load_project(
        write(
            tmp_path,
            MINIMAL
            + 'attester-reward = "0.01"\nperformer_reward = 2\naggregator-reward = "5wei"\n'
            + 'restrict = [2, 4]\npenalize = ["rejected"]\nmax-attesters = 3\n',
        )
    )
    params = project.definition("uppercase").params("uppercase", [11, 12, 13, 14])
    assert (params.attester_reward, params.performer_reward, params.aggregator_reward) == (TOKEN // 100, 2 * TOKEN, 5)
    assert params.restricted_attester_ids == (12, 14)  # places in [devnet] become the operators' ids
    assert params.maximum_number_of_attesters == 3
    assert (params.penalties.double_attestation, params.penalties.rejected_task) == (False, True)
    assert project.devnet.operator_stakes() == [10 * TOKEN] * 4


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("attester-rewrd = 1\n", "definitions.uppercase.attester-rewrd"),
        ('performer-reward = "lots"\n', "definitions.uppercase.performer-reward"),
        ("performer-reward = -1\n", "definitions.uppercase.performer-reward"),
        ('penalize = ["slow"]\n', "definitions.uppercase.penalize.0"),
        ("restrict = [5]\n", "definitions.uppercase: operator 5 does not exist"),
        ("slash-bps = 20000\n", "definitions.uppercase.slash-bps"),
        ("[definitions.uppercase.trigger]\nevery-seconds = 0\n", "definitions.uppercase.trigger.every-seconds"),
        ('[definitions.uppercase.trigger]\non-event = "nonsense"\n', "definitions.uppercase.trigger.on-event"),
        ("[devnet]\noperators = 3\n", "devnet.operators"),
        ("[devnet]\nstakes = [1, 2]\n", "devnet: Value error, stakes lists 2 amounts for 4 operators"),
        ("[devnet]\noffline = 1\nlying = 1\n", "devnet: Value error, offline (1) + lying (1)"),
    ],
)
def test_a_wrong_key_is_refused_naming_it(tmp_path, extra, named):
    with pytest.raises(ProjectError) as error:
        load_project(write(tmp_path, MINIMAL + extra))
    assert named.replace("Value error, ", "") in str(error.value)


def test_a_file_without_definitions_or_name_is_refused(tmp_path):
    with pytest.raises(ProjectError, match="definitions: Field required"):
        load_project(write(tmp_path, '[project]\nname = "x"\n'))
    with pytest.raises(ProjectError, match="project: Field required"):
        load_project(write(tmp_path, "[definitions.a]\n"))
    with pytest.raises(ProjectError, match="is not valid TOML"):
        load_project(write(tmp_path, "[project\n"))


def test_an_unknown_definition_name_is_an_error_listing_the_declared_ones(tmp_path):
    project = load_project(write(tmp_path, MINIMAL))
    with pytest.raises(ProjectError, match="no task definition 'upper' .*'uppercase'"):
        project.definition("upper")


def test_the_project_is_found_upward_from_a_subfolder(tmp_path):
    write(tmp_path, MINIMAL)
    (tmp_path / "tests" / "deeper").mkdir(parents=True)
    assert find_project(tmp_path / "tests" / "deeper").root == tmp_path.resolve()
    assert find_project(tmp_path.parent) is None or find_project(tmp_path.parent).root != tmp_path.resolve()
