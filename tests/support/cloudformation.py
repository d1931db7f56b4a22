"""moto's CloudFormation, completed for what the deploy templates use.

moto 5.2 creates stacks in-process but has no handler for ``AWS::SNS::TopicPolicy``,
``AWS::SNS::Subscription``, ``AWS::SQS::QueuePolicy`` and ``AWS::SecretsManager::Secret`` (it
warns and skips them), and its handlers for ``AWS::ECS::TaskDefinition``, ``AWS::ECS::Service``,
``AWS::EC2::SecurityGroup``, ``AWS::DynamoDB::Table`` and ``AWS::IAM::Role`` drop or garble
properties the templates depend on (the task and execution roles, CPU, network mode, Fargate,
the service's network configuration, egress rules, point-in-time recovery; inline role policies
are stored as Python ``repr`` text instead of JSON).

Each handler here does what CloudFormation's own resource provider does: it makes the public API
calls (through boto3, so moto's API layer answers) with the properties moto's template engine
resolved. The stack's resources then exist in moto for real, and the tests read them back with
``describe_*`` / ``get_*`` calls. ``install()`` registers the handlers; moto picks the last
handler defined for a type.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


class _Made:
    """A resource made through the API: what ``Ref`` and ``Fn::GetAtt`` return for it. (Each
    handler also derives from CloudFormationModel directly: moto lists its direct subclasses.)"""

    def __init__(self, ref: str, **attributes: str) -> None:
        self.ref = ref
        self.attributes = attributes

    @property
    def physical_resource_id(self) -> str:
        return self.ref

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.attributes[attribute_name]

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def is_created(self) -> bool:
        return True


def _properties(cloudformation_json: Any) -> Any:
    """The resolved properties. moto leaves ``None`` where ``!Ref AWS::NoValue`` stood in a list;
    CloudFormation drops the entry."""

    def dropped(value: Any) -> Any:
        if isinstance(value, list):
            return [dropped(v) for v in value if v is not None]
        if isinstance(value, dict):
            return {k: dropped(v) for k, v in value.items() if v is not None}
        return value

    return dropped(cloudformation_json["Properties"])


def _client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def _json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class TopicPolicy(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        sns = _client("sns", region_name)
        for topic in props["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic,
                AttributeName="Policy",
                AttributeValue=_json(props["PolicyDocument"]),
            )
        return cls(resource_name)


class Subscription(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        attributes = {}
        if "RawMessageDelivery" in props:
            attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
        answer = _client("sns", region_name).subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        return cls(answer["SubscriptionArn"])


class QueuePolicy(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        sqs = _client("sqs", region_name)
        for queue_url in props["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": _json(props["PolicyDocument"])}
            )
        return cls(resource_name)


class Secret(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        args = {
            "Name": props.get("Name", resource_name),
            "Description": props.get("Description", ""),
        }
        if "SecretString" in props:
            args["SecretString"] = props["SecretString"]
        answer = _client("secretsmanager", region_name).create_secret(**args)
        return cls(answer["ARN"], Id=answer["ARN"])


class Role(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::Role"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        iam = _client("iam", region_name)
        role = iam.create_role(
            RoleName=props.get("RoleName", resource_name)[:64],
            AssumeRolePolicyDocument=_json(props["AssumeRolePolicyDocument"]),
            Description=props.get("Description", ""),
        )["Role"]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=role["RoleName"],
                PolicyName=policy["PolicyName"],
                PolicyDocument=_json(policy["PolicyDocument"]),
            )
        return cls(role["RoleName"], Arn=role["Arn"], RoleId=role["RoleId"])


class TaskDefinition(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::TaskDefinition"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        args = {_camel(k): v for k, v in props.items()}
        args["containerDefinitions"] = [
            _camel_keys(container) for container in props["ContainerDefinitions"]
        ]
        if "runtimePlatform" in args:
            args["runtimePlatform"] = _camel_keys(args["runtimePlatform"])
        answer = _client("ecs", region_name).register_task_definition(**args)
        arn = answer["taskDefinition"]["taskDefinitionArn"]
        return cls(arn, TaskDefinitionArn=arn)


class Service(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::Service"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        network = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        answer = _client("ecs", region_name).create_service(
            cluster=props["Cluster"],
            serviceName=props.get("ServiceName", resource_name),
            taskDefinition=props["TaskDefinition"],
            desiredCount=int(props["DesiredCount"]),
            launchType=props["LaunchType"],
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(network["Subnets"]),
                    "securityGroups": list(network["SecurityGroups"]),
                    "assignPublicIp": network["AssignPublicIp"],
                }
            },
            deploymentConfiguration=_camel_keys(props.get("DeploymentConfiguration", {})),
        )
        arn = answer["service"]["serviceArn"]
        return cls(arn, Name=answer["service"]["serviceName"], ServiceArn=arn)


class SecurityGroup(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroup"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        ec2 = _client("ec2", region_name)
        group = ec2.create_security_group(
            GroupName=props.get("GroupName", resource_name),
            Description=props["GroupDescription"],
            VpcId=props["VpcId"],
        )["GroupId"]
        for direction, key in (
            ("ingress", "SecurityGroupIngress"),
            ("egress", "SecurityGroupEgress"),
        ):
            rules = [_ip_permission(rule) for rule in props.get(key, [])]
            if direction == "egress" and key in props:
                # Given egress rules replace the default "everything out" (as CloudFormation does).
                ec2.revoke_security_group_egress(
                    GroupId=group,
                    IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
                )
            if rules:
                authorize = getattr(ec2, f"authorize_security_group_{direction}")
                authorize(GroupId=group, IpPermissions=rules)
        return cls(group, GroupId=group, VpcId=props["VpcId"])


def _ip_permission(rule: dict[str, Any]) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": str(rule["IpProtocol"])}
    for port in ("FromPort", "ToPort"):
        if port in rule:
            permission[port] = int(rule[port])
    if "CidrIp" in rule:
        permission["IpRanges"] = [
            {"CidrIp": rule["CidrIp"], "Description": rule.get("Description", "")}
        ]
    return permission


class Table(_Made, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::DynamoDB::Table"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _Made:
        props = _properties(cloudformation_json)
        recovery = props.pop("PointInTimeRecoverySpecification", None)
        ttl = props.pop("TimeToLiveSpecification", None)
        dynamodb = _client("dynamodb", region_name)
        props.setdefault("TableName", resource_name)
        table = dynamodb.create_table(**props)["TableDescription"]
        if recovery is not None:
            dynamodb.update_continuous_backups(
                TableName=table["TableName"], PointInTimeRecoverySpecification=recovery
            )
        if ttl is not None:
            dynamodb.update_time_to_live(TableName=table["TableName"], TimeToLiveSpecification=ttl)
        return cls(table["TableName"], Arn=table["TableArn"])


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _camel_keys(value: Any) -> Any:
    """CloudFormation's PascalCase properties as the ECS API's camelCase, all the way down —
    except inside the values that are data (options maps, environment names stay as written)."""
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {_camel(k): (v if k == "Options" else _camel_keys(v)) for k, v in value.items()}


def install() -> None:
    """Make moto's template engine use the handlers above (idempotent)."""
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    for handler in (
        TopicPolicy,
        Subscription,
        QueuePolicy,
        Secret,
        TaskDefinition,
        Service,
        SecurityGroup,
        Table,
    ):
        assert parsing.get_model_map()[handler.cloudformation_type()] is handler
