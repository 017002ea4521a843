"""Generated and hand-kept project files stay in step with their sources."""

import json
from pathlib import Path

from cli import policies, requirements

ROOT = Path(__file__).resolve().parents[2]
DATA_PLANE = ("dynamodb:", "sqs:", "ses:", "sns:Publish", "secretsmanager:", "sns:CreatePlatformEndpoint")


def test_requirements_txt_is_generated_from_pyproject() -> None:
    assert (ROOT / "requirements.txt").read_text() == requirements.render(), "run `make requirements`"


def test_boto3_is_pinned_for_the_lambda() -> None:
    assert any(line.startswith("boto3==") for line in requirements.render().splitlines())


def test_policy_files_are_generated() -> None:
    for stage in policies.DEPLOYED_STAGES:
        on_disk = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        assert on_disk == policies.policy(stage), "run `make policies`"


def test_no_wildcard_action_or_resource_on_data_plane_calls() -> None:
    for stage in policies.DEPLOYED_STAGES:
        for statement in policies.policy(stage)["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), statement["Sid"]
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            if "*" in resources:
                assert set(actions) <= set(policies.UNSCOPABLE), statement["Sid"]
            for action in actions:
                if action.startswith(DATA_PLANE) and "Resource" in statement:
                    assert "*" not in resources, (statement["Sid"], action)
                    assert all(stage in r or "identity/" in r or "endpoint/" in r or "app/" in r for r in resources)


def test_every_stage_is_configured_and_deployed_stages_use_hand_written_policies() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    assert set(config["stages"]) == {"local", "test", "dev", "prod"}
    for stage in policies.DEPLOYED_STAGES:
        assert config["stages"][stage]["iam_policy_file"] == f"policy-{stage}.json"
        assert config["stages"][stage]["environment_variables"]["TOUCHPLAN_STAGE"] == stage


def test_vendor_functions_is_a_relative_link_to_functions() -> None:
    link = ROOT / "vendor" / "functions"
    assert link.is_symlink()
    assert str(link.readlink()) == "../functions"
