"""Creates the stack of infra/template.yaml on moto: CloudFormation, then a top-up of what moto skips.

moto's CloudFormation reports CREATE_COMPLETE while silently skipping SNS subscriptions, queue policies,
SES configuration sets and their event destinations, SES identities, secrets, and table TTL. Those parts are
read from the same template and created through the API, so local and AWS stacks come from one file.
`missing_resources` checks every resource of the template afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"
ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Stack:
    stage: str
    region: str
    session: Any  # boto3.Session
    template: dict[str, Any]
    parameters: dict[str, str]

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml  # a second of imports, which the memory simulation does without

    return dict(cfn_yaml.load(str(path)))


def deploy(session: Any, stage: str, region: str, template_path: Path = TEMPLATE) -> Stack:
    template = load_template(template_path)
    parameters = {
        name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()
    }
    parameters["Stage"] = stage
    stack = Stack(stage, region, session, template, parameters)
    cfn = stack.client("cloudformation")
    cfn.create_stack(
        StackName=f"touchplan-{stage}",
        TemplateBody=template_path.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    status = cfn.describe_stacks(StackName=f"touchplan-{stage}")["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"stack touchplan-{stage} ended in {status}")
    top_up(stack)
    return stack


# --- resolving the intrinsic functions the template uses ---------------------------------------------


def _physical(stack: Stack, logical: str, attribute: str | None = None) -> str:
    resource = stack.template["Resources"][logical]
    kind = resource["Type"]
    props = resolve(stack, resource.get("Properties", {}))
    region, account = stack.region, ACCOUNT
    if kind == "AWS::SQS::Queue":
        name = props["QueueName"]
        if attribute == "Arn":
            return f"arn:aws:sqs:{region}:{account}:{name}"
        if attribute == "QueueName":
            return str(name)
        return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    if kind == "AWS::SNS::Topic":
        if attribute == "TopicName":
            return str(props["TopicName"])
        return f"arn:aws:sns:{region}:{account}:{props['TopicName']}"
    if kind == "AWS::DynamoDB::Table":
        if attribute == "Arn":
            return f"arn:aws:dynamodb:{region}:{account}:table/{props['TableName']}"
        return str(props["TableName"])
    if kind in ("AWS::SES::ConfigurationSet",):
        return str(props["Name"])
    if kind == "AWS::SecretsManager::Secret":
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{props['Name']}"
    raise KeyError(f"cannot resolve {logical} ({kind})")


def _ref(stack: Stack, name: str) -> str:
    if name == "AWS::Region":
        return stack.region
    if name == "AWS::AccountId":
        return ACCOUNT
    if name == "AWS::Partition":
        return "aws"
    if name == "AWS::StackName":
        return f"touchplan-{stack.stage}"
    if name in stack.parameters:
        return stack.parameters[name]
    return _physical(stack, name)


def _sub(stack: Stack, text: str, extra: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in extra:
            return str(resolve(stack, extra[name]))
        if "." in name and not name.startswith("AWS::"):
            logical, attribute = name.split(".", 1)
            return _physical(stack, logical, attribute)
        return _ref(stack, name)

    return re.sub(r"\$\{([^}!]+)\}", replace, text)


def resolve(stack: Stack, value: Any) -> Any:
    if isinstance(value, list):
        return [resolve(stack, item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return _ref(stack, arg)
        if key == "Fn::GetAtt":
            logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return _physical(stack, logical, attribute)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return _sub(stack, text, extra)
        if key == "Fn::Join":
            return str(arg[0]).join(str(part) for part in resolve(stack, arg[1]))
        if key == "Fn::If":
            condition, when_true, when_false = arg
            return resolve(stack, when_true if _condition(stack, condition) else when_false)
        if key == "Fn::Equals":
            left, right = resolve(stack, arg)
            return str(left) == str(right)
    return {key: resolve(stack, item) for key, item in value.items()}


def _condition(stack: Stack, name: str) -> bool:
    return bool(resolve(stack, stack.template.get("Conditions", {})[name]))


def _resources(stack: Stack, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical, resolve(stack, resource.get("Properties", {})))
        for logical, resource in stack.template["Resources"].items()
        if resource["Type"] == kind
    ]


# --- the top-up ----------------------------------------------------------------------------------------


def _subscriptions(stack: Stack) -> None:
    sns = stack.client("sns")
    for _, props in _resources(stack, "AWS::SNS::Subscription"):
        attributes = {}
        if "RawMessageDelivery" in props:
            attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
        sns.subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
        )


def _topic_policies(stack: Stack) -> None:
    sns = stack.client("sns")
    for _, props in _resources(stack, "AWS::SNS::TopicPolicy"):
        for arn in props["Topics"]:
            sns.set_topic_attributes(
                TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )


def _queue_policies(stack: Stack) -> None:
    sqs = stack.client("sqs")
    for _, props in _resources(stack, "AWS::SQS::QueuePolicy"):
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})


def _time_to_live(stack: Stack) -> None:
    dynamodb = stack.client("dynamodb")
    for _, props in _resources(stack, "AWS::DynamoDB::Table"):
        spec = props.get("TimeToLiveSpecification")
        if spec and str(spec.get("Enabled")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=props["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["AttributeName"]},
            )


def _ses(stack: Stack) -> None:
    ses = stack.client("ses")
    sesv2 = stack.client("sesv2")
    for _, props in _resources(stack, "AWS::SES::ConfigurationSet"):
        ses.create_configuration_set(ConfigurationSet={"Name": props["Name"]})
    for _, props in _resources(stack, "AWS::SES::ConfigurationSetEventDestination"):
        destination = props["EventDestination"]
        ses.create_configuration_set_event_destination(
            ConfigurationSetName=props["ConfigurationSetName"],
            EventDestination={
                "Name": destination.get("Name", "feedback"),
                "Enabled": bool(destination.get("Enabled", True)),
                "MatchingEventTypes": destination["MatchingEventTypes"],
                "SNSDestination": {"TopicARN": destination["SnsDestination"]["TopicARN"]},
            },
        )
    for _, props in _resources(stack, "AWS::SES::EmailIdentity"):
        sesv2.create_email_identity(EmailIdentity=props["EmailIdentity"])
    # The sender address itself, so moto accepts sends from it (a verified domain covers it in AWS).
    sender = stack.parameters.get("SenderEmail")
    if sender:
        sesv2.create_email_identity(EmailIdentity=sender)


def _secrets(stack: Stack) -> None:
    client = stack.client("secretsmanager")
    for _, props in _resources(stack, "AWS::SecretsManager::Secret"):
        generate = props.get("GenerateSecretString") or {}
        value = json.loads(generate.get("SecretStringTemplate", "{}"))
        if generate.get("GenerateStringKey"):
            value[generate["GenerateStringKey"]] = secrets.token_urlsafe(48)
        client.create_secret(Name=props["Name"], SecretString=json.dumps(value))


TOP_UP: tuple[Callable[[Stack], None], ...] = (
    _subscriptions,
    _topic_policies,
    _queue_policies,
    _time_to_live,
    _ses,
    _secrets,
)


def top_up(stack: Stack) -> None:
    for step in TOP_UP:
        step(stack)


# --- the check -----------------------------------------------------------------------------------------


def missing_resources(stack: Stack) -> list[str]:
    """Every resource of the template that cannot be found in the (local) account, as `Logical (Type)`."""
    missing = []
    for logical, resource in stack.template["Resources"].items():
        kind = resource["Type"]
        props = resolve(stack, resource.get("Properties", {}))
        try:
            found = _exists(stack, kind, props)
        except Exception:  # any lookup error means the resource is not there
            found = False
        if not found:
            missing.append(f"{logical} ({kind})")
    return missing


def _exists(stack: Stack, kind: str, props: dict[str, Any]) -> bool:
    if kind == "AWS::DynamoDB::Table":
        dynamodb = stack.client("dynamodb")
        dynamodb.describe_table(TableName=props["TableName"])
        spec = props.get("TimeToLiveSpecification")
        if spec and str(spec.get("Enabled")).lower() == "true":
            ttl = dynamodb.describe_time_to_live(TableName=props["TableName"])["TimeToLiveDescription"]
            return ttl.get("AttributeName") == spec["AttributeName"]
        return True
    if kind == "AWS::SQS::Queue":
        return bool(stack.client("sqs").get_queue_url(QueueName=props["QueueName"]))
    if kind == "AWS::SQS::QueuePolicy":
        sqs = stack.client("sqs")
        return all(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
            .get("Attributes", {})
            .get("Policy")
            for url in props["Queues"]
        )
    if kind == "AWS::SNS::Topic":
        return bool(stack.client("sns").get_topic_attributes(TopicArn=_ref_topic(stack, props)))
    if kind == "AWS::SNS::TopicPolicy":
        sns = stack.client("sns")
        wanted = {statement.get("Sid") for statement in props["PolicyDocument"]["Statement"]}
        for arn in props["Topics"]:
            policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy", "{}"))
            if not wanted <= {statement.get("Sid") for statement in policy.get("Statement", [])}:
                return False
        return True
    if kind == "AWS::SNS::Subscription":
        subscriptions = stack.client("sns").list_subscriptions_by_topic(TopicArn=props["TopicArn"])
        return any(s["Endpoint"] == props["Endpoint"] for s in subscriptions["Subscriptions"])
    if kind == "AWS::SES::ConfigurationSet":
        return bool(stack.client("sesv2").get_configuration_set(ConfigurationSetName=props["Name"]))
    if kind == "AWS::SES::ConfigurationSetEventDestination":
        described = stack.client("ses").describe_configuration_set(
            ConfigurationSetName=props["ConfigurationSetName"],
            ConfigurationSetAttributeNames=["eventDestinations"],
        )
        return any(d for d in described.get("EventDestinations", []) if d)
    if kind == "AWS::SES::EmailIdentity":
        return bool(stack.client("sesv2").get_email_identity(EmailIdentity=props["EmailIdentity"]))
    if kind == "AWS::SecretsManager::Secret":
        return bool(stack.client("secretsmanager").describe_secret(SecretId=props["Name"]))
    raise KeyError(f"no existence check for {kind}")


def _ref_topic(stack: Stack, props: dict[str, Any]) -> str:
    return f"arn:aws:sns:{stack.region}:{ACCOUNT}:{props['TopicName']}"
