"""botocore's service models as the judge of the emulator's answers: the
PrivateLink family of operations, a strict check of a raw XML answer
against an output shape, and random inputs built from input shapes."""

import base64
import datetime
import random
import xml.etree.ElementTree as ET

import botocore.session

_SESSION = botocore.session.get_session()

# The EC2 actions a PrivateLink setup needs around the `*VpcEndpoint*` ones
# (which are taken from the model whole).
EC2_AROUND = [
    "CreateVpc", "CreateDefaultVpc", "DescribeVpcs", "DeleteVpc", "ModifyVpcAttribute", "DescribeVpcAttribute",
    "CreateSubnet", "DescribeSubnets", "DeleteSubnet", "ModifySubnetAttribute",
    "CreateSecurityGroup", "DescribeSecurityGroups", "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress", "DescribeSecurityGroupRules",
    "ModifySecurityGroupRules", "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress", "GetSecurityGroupsForVpc",
    "DescribeNetworkInterfaces", "CreateNetworkInterface", "DeleteNetworkInterface",
    "DescribeNetworkInterfaceAttribute", "ModifyNetworkInterfaceAttribute",
    "DescribeAvailabilityZones", "DescribeRegions", "DescribeAccountAttributes", "DescribeNetworkAcls",
    "CreateTags", "DeleteTags", "DescribeTags",
    "CreateRouteTable", "DescribeRouteTables", "DeleteRouteTable", "AssociateRouteTable",
    "DisassociateRouteTable", "ReplaceRouteTableAssociation", "CreateRoute", "ReplaceRoute", "DeleteRoute",
    "DescribePrefixLists", "DescribeManagedPrefixLists", "GetManagedPrefixListEntries",
]


def model(service):
    return _SESSION.get_service_model(service)


def family():
    """(service, operation) for every operation of the PrivateLink family."""
    ec2 = model("ec2")
    ops = [("ec2", o) for o in ec2.operation_names if "VpcEndpoint" in o]
    ops += [("ec2", o) for o in EC2_AROUND]
    ops += [("elbv2", o) for o in model("elbv2").operation_names]
    ops.append(("sts", "GetCallerIdentity"))
    assert len(set(ops)) == len(ops)
    missing = [o for s, o in ops if o not in model(s).operation_names]
    assert not missing, f"not in botocore's models: {missing}"
    return ops


# --- checking an answer -----------------------------------------------------


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _wire_name(shape, name):
    return shape.serialization.get("name", name)


def check_xml(service, operation, status, body):
    """Problems of one raw answer (an empty list when it is faithful): a
    success must be the output shape exactly (every element a member of
    its shape, every scalar of its type, every enum value one the model
    lists); an error must be AWS's error document with a code and a
    message."""
    problems = []
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        return [f"not XML ({e}): {body[:200]!r}"]
    if status >= 300:
        return check_error(root, status)
    op = model(service).operation_model(operation)
    if _local(root.tag) != f"{operation}Response":
        return [f"root element {_local(root.tag)}, expected {operation}Response"]
    if service == "ec2":
        body_node, extra = root, {"requestId", "return"}
    else:
        results = [c for c in root if _local(c.tag) == f"{operation}Result"]
        meta = [c for c in root if _local(c.tag) == "ResponseMetadata"]
        if len(meta) != 1 or meta[0].find("{*}RequestId") is None:
            problems.append("no ResponseMetadata/RequestId")
        others = [_local(c.tag) for c in root if _local(c.tag) not in (f"{operation}Result", "ResponseMetadata")]
        if others:
            problems.append(f"unexpected elements {others} in the response")
        if op.output_shape is None:
            return problems
        if len(results) != 1:
            return problems + [f"no {operation}Result"]
        body_node, extra = results[0], set()
    if op.output_shape is not None:
        _check_structure(body_node, op.output_shape, operation, problems, extra)
    return problems


def check_error(root, status):
    problems = []
    if not 400 <= status < 500:
        problems.append(f"error status {status}")
    error = root.find(".//{*}Error")
    if error is None:
        error = root.find(".//Error")
    if error is None:
        return problems + ["no Error element"]
    code = error.findtext("{*}Code") or error.findtext("Code")
    message = error.findtext("{*}Message") or error.findtext("Message")
    if not code:
        problems.append("error without a Code")
    if not message:
        problems.append(f"error {code} without a Message")
    return problems


def _check_structure(node, shape, path, problems, extra=frozenset()):
    by_wire = {_wire_name(s, n): s for n, s in shape.members.items()}
    seen = set()
    for child in node:
        tag = _local(child.tag)
        if tag in extra:
            continue
        member = by_wire.get(tag)
        if member is None:
            problems.append(f"{path}: <{tag}> is not a member of {shape.name}")
            continue
        if tag in seen and not (member.type_name == "list" and member.serialization.get("flattened")):
            problems.append(f"{path}: <{tag}> appears twice")
        seen.add(tag)
        _check_value(child, member, f"{path}.{tag}", problems)
    text = (node.text or "").strip()
    if text:
        problems.append(f"{path}: text {text[:40]!r} in a structure")


def _check_value(node, shape, path, problems):
    t = shape.type_name
    if t == "structure":
        _check_structure(node, shape, path, problems)
    elif t == "list":
        item = _wire_name(shape.member, "member")
        for i, child in enumerate(node):
            if _local(child.tag) != item:
                problems.append(f"{path}: list element <{_local(child.tag)}>, expected <{item}>")
                continue
            _check_value(child, shape.member, f"{path}[{i}]", problems)
    elif t == "map":
        for child in node:
            if _local(child.tag) != "entry":
                problems.append(f"{path}: map element <{_local(child.tag)}>")
                continue
            value = child.find("{*}value")
            if value is None:
                value = child.find("value")
            if value is not None:
                _check_value(value, shape.value, f"{path}{{}}", problems)
    else:
        if len(node):
            problems.append(f"{path}: scalar {t} with child elements")
            return
        text = node.text or ""
        problem = _scalar_problem(shape, text)
        if problem:
            problems.append(f"{path}: {problem}")


def _scalar_problem(shape, text):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            int(text)
        elif t in ("double", "float"):
            float(text)
        elif t == "boolean":
            if text not in ("true", "false"):
                return f"boolean {text!r}"
        elif t == "timestamp":
            datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        elif t == "blob":
            base64.b64decode(text, validate=True)
        elif t == "string" and shape.enum and text not in shape.enum and not _lower_camel_state(shape, text):
            return f"{text!r} is not one of {shape.name}'s values"
    except ValueError:
        return f"{t} {text!r}"
    return None


def _lower_camel_state(shape, text):
    """EC2 sends a VPC endpoint's state lowerCamel (`pendingAcceptance`,
    `available`) where the model lists `PendingAcceptance`, `Available`."""
    return shape.name == "State" and text[:1].upper() + text[1:] in shape.enum and text[:1].islower()


# --- random inputs ------------------------------------------------------------

ODD_STRINGS = [
    "", " ", "x" * 300, "日本語", "<tag>&amp;", "%00", "\x7f", "-1", "vpc-", "vpce-svc-0000000000000000",
    "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:loadbalancer/net/x/0",
    "arn:aws:iam::222222222222:root", "10.0.0.0/33", "0.0.0.0/0", "*", "true", "null",
]
ODD_INTS = [-1, 0, 1, 5, 80, 65535, 65536, 2**31 - 1, 2**31, 10**12]


def random_input(shape, rng, pool, depth=0):
    """A random value of an input shape: mostly well-typed (so botocore can
    serialise it), with strings and numbers at and beyond their limits and
    ids taken from `pool` (resources that exist) now and then."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            required = name in shape.required_members
            if rng.random() < (0.85 if required else 0.4) and depth < 5:
                out[name] = random_input(member, rng, pool, depth + 1)
        return out
    if t == "list":
        return [random_input(shape.member, rng, pool, depth + 1) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
    if t == "map":
        return {random_string(rng, pool): random_input(shape.value, rng, pool, depth + 1) for _ in range(rng.randint(0, 2))}
    if t in ("integer", "long"):
        return rng.choice(ODD_INTS) if rng.random() < 0.7 else rng.randint(-10, 10000)
    if t in ("double", "float"):
        return rng.choice([0.0, -1.5, 1e300, 3.25])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "timestamp":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    if t == "blob":
        return rng.randbytes(rng.randint(0, 16))
    if shape.enum and rng.random() < 0.7:
        return rng.choice(shape.enum)
    return random_string(rng, pool)


def random_string(rng, pool):
    r = rng.random()
    if pool and r < 0.45:
        return rng.choice(pool)
    if r < 0.8:
        return rng.choice(ODD_STRINGS)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_./:") for _ in range(rng.randint(1, 40)))


def seeded(seed):
    return random.Random(seed)
