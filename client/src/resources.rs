//! Typed calls for the actions a PrivateLink topology needs, returning the
//! fields users look at.

use std::time::{Duration, Instant};

use crate::api::{Client, Error, Result};
use crate::xml::Element;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub cidr: String,
    pub zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    pub arn: String,
    pub dns_name: String,
    pub state: String,
    /// (zone, private address) of each node.
    pub nodes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfiguration {
    pub id: String,
    pub name: String,
    pub state: String,
    pub acceptance_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub state: String,
    pub vpc_id: String,
    pub service_name: String,
    pub subnet_ids: Vec<String>,
    pub network_interface_ids: Vec<String>,
    /// Regional, zonal, then private DNS name, as AWS orders them.
    pub dns_names: Vec<String>,
    /// The Route 53 zone of the regional name: what an alias to it names.
    pub hosted_zone_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub endpoint_id: String,
    pub owner: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    pub id: String,
    pub subnet_id: String,
    pub zone: String,
    pub private_ip: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub id: String,
    pub port: u16,
    pub state: String,
    pub reason: String,
}

fn s(v: &str) -> String {
    v.to_string()
}

fn texts(e: &Element, list: &str) -> Vec<String> {
    e.list(list).iter().map(|i| i.text.trim().to_string()).collect()
}

fn endpoint(e: &Element) -> Endpoint {
    Endpoint {
        id: e.text_of("vpcEndpointId"),
        state: e.text_of("state"),
        vpc_id: e.text_of("vpcId"),
        service_name: e.text_of("serviceName"),
        subnet_ids: texts(e, "subnetIdSet"),
        network_interface_ids: texts(e, "networkInterfaceIdSet"),
        dns_names: e.list("dnsEntrySet").iter().map(|d| d.text_of("dnsName")).collect(),
        hosted_zone_id: e.list("dnsEntrySet").first().map(|d| d.text_of("hostedZoneId")).unwrap_or_default(),
    }
}

fn load_balancer(e: &Element) -> LoadBalancer {
    LoadBalancer {
        arn: e.text_of("LoadBalancerArn"),
        dns_name: e.text_of("DNSName"),
        state: e.child("State").map(|s| s.text_of("Code")).unwrap_or_default(),
        nodes: e
            .list("AvailabilityZones")
            .iter()
            .map(|z| {
                let ip = z
                    .list("LoadBalancerAddresses")
                    .first()
                    .map(|a| a.text_of("PrivateIPv4Address"))
                    .unwrap_or_default();
                (z.text_of("ZoneName"), ip)
            })
            .collect(),
    }
}

fn missing(what: &str) -> Error {
    Error::Parse(format!("the answer has no {what}"))
}

fn numbered(prefix: &str, values: &[impl AsRef<str>]) -> Vec<(String, String)> {
    values.iter().enumerate().map(|(i, v)| (format!("{prefix}.{}", i + 1), v.as_ref().to_string())).collect()
}

fn refs(owned: &[(String, String)]) -> Vec<(&str, String)> {
    owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

impl Client {
    /// The account the credentials act as (STS GetCallerIdentity).
    pub async fn account(&self) -> Result<String> {
        Ok(self.sts("GetCallerIdentity").await?.find("Account").map(|a| a.text.clone()).unwrap_or_default())
    }

    pub async fn create_vpc(&self, cidr: &str) -> Result<Vpc> {
        let r = self.ec2("CreateVpc", &[("CidrBlock", s(cidr))]).await?;
        let v = r.child("vpc").ok_or_else(|| missing("vpc"))?;
        Ok(Vpc { id: v.text_of("vpcId"), cidr: v.text_of("cidrBlock") })
    }

    /// enableDnsHostnames (private DNS names need it, with DNS support).
    pub async fn enable_dns_hostnames(&self, vpc: &str) -> Result<()> {
        self.ec2("ModifyVpcAttribute", &[("VpcId", s(vpc)), ("EnableDnsHostnames.Value", s("true"))]).await?;
        Ok(())
    }

    pub async fn create_subnet(&self, vpc: &str, cidr: &str, zone: &str) -> Result<Subnet> {
        let r = self
            .ec2("CreateSubnet", &[("VpcId", s(vpc)), ("CidrBlock", s(cidr)), ("AvailabilityZone", s(zone))])
            .await?;
        let v = r.child("subnet").ok_or_else(|| missing("subnet"))?;
        Ok(Subnet { id: v.text_of("subnetId"), cidr: v.text_of("cidrBlock"), zone: v.text_of("availabilityZone") })
    }

    /// A security group admitting TCP `port` from `cidr`.
    pub async fn create_security_group(&self, vpc: &str, name: &str, port: u16, cidr: &str) -> Result<String> {
        let r = self
            .ec2("CreateSecurityGroup", &[("VpcId", s(vpc)), ("GroupName", s(name)), ("GroupDescription", s(name))])
            .await?;
        let id = r.text_of("groupId");
        self.ec2(
            "AuthorizeSecurityGroupIngress",
            &[
                ("GroupId", id.clone()),
                ("IpPermissions.1.IpProtocol", s("tcp")),
                ("IpPermissions.1.FromPort", port.to_string()),
                ("IpPermissions.1.ToPort", port.to_string()),
                ("IpPermissions.1.IpRanges.1.CidrIp", s(cidr)),
            ],
        )
        .await?;
        Ok(id)
    }

    pub async fn create_network_load_balancer(&self, name: &str, subnets: &[&str]) -> Result<LoadBalancer> {
        let mut params =
            vec![("Name".to_string(), s(name)), ("Type".into(), s("network")), ("Scheme".into(), s("internal"))];
        params.extend(numbered("Subnets.member", subnets));
        let r = self.elbv2("CreateLoadBalancer", &refs(&params)).await?;
        r.list("LoadBalancers").first().map(|e| load_balancer(e)).ok_or_else(|| missing("load balancer"))
    }

    pub async fn describe_load_balancer(&self, arn: &str) -> Result<LoadBalancer> {
        let r = self.elbv2("DescribeLoadBalancers", &[("LoadBalancerArns.member.1", s(arn))]).await?;
        r.list("LoadBalancers").first().map(|e| load_balancer(e)).ok_or_else(|| missing("load balancer"))
    }

    pub async fn set_cross_zone(&self, lb: &str, on: bool) -> Result<()> {
        self.elbv2(
            "ModifyLoadBalancerAttributes",
            &[
                ("LoadBalancerArn", s(lb)),
                ("Attributes.member.1.Key", s("load_balancing.cross_zone.enabled")),
                ("Attributes.member.1.Value", on.to_string()),
            ],
        )
        .await?;
        Ok(())
    }

    /// A TCP target group of ip targets.
    pub async fn create_target_group(&self, name: &str, vpc: &str, port: u16) -> Result<String> {
        let r = self
            .elbv2(
                "CreateTargetGroup",
                &[
                    ("Name", s(name)),
                    ("Protocol", s("TCP")),
                    ("Port", port.to_string()),
                    ("VpcId", s(vpc)),
                    ("TargetType", s("ip")),
                ],
            )
            .await?;
        r.list("TargetGroups").first().map(|t| t.text_of("TargetGroupArn")).ok_or_else(|| missing("target group"))
    }

    /// Registers (id, port, zone) targets; zone `all` for addresses outside the VPC.
    pub async fn register_targets(&self, tg: &str, targets: &[(&str, u16, Option<&str>)]) -> Result<()> {
        let mut params = vec![("TargetGroupArn".to_string(), s(tg))];
        for (i, (id, port, zone)) in targets.iter().enumerate() {
            params.push((format!("Targets.member.{}.Id", i + 1), s(id)));
            params.push((format!("Targets.member.{}.Port", i + 1), port.to_string()));
            if let Some(z) = zone {
                params.push((format!("Targets.member.{}.AvailabilityZone", i + 1), s(z)));
            }
        }
        self.elbv2("RegisterTargets", &refs(&params)).await?;
        Ok(())
    }

    pub async fn create_listener(&self, lb: &str, port: u16, tg: &str) -> Result<String> {
        let r = self
            .elbv2(
                "CreateListener",
                &[
                    ("LoadBalancerArn", s(lb)),
                    ("Protocol", s("TCP")),
                    ("Port", port.to_string()),
                    ("DefaultActions.member.1.Type", s("forward")),
                    ("DefaultActions.member.1.TargetGroupArn", s(tg)),
                ],
            )
            .await?;
        r.list("Listeners").first().map(|l| l.text_of("ListenerArn")).ok_or_else(|| missing("listener"))
    }

    pub async fn describe_target_health(&self, tg: &str) -> Result<Vec<TargetHealth>> {
        let r = self.elbv2("DescribeTargetHealth", &[("TargetGroupArn", s(tg))]).await?;
        Ok(r.list("TargetHealthDescriptions")
            .iter()
            .map(|d| {
                let t = d.child("Target").cloned().unwrap_or_default();
                let h = d.child("TargetHealth").cloned().unwrap_or_default();
                TargetHealth {
                    id: t.text_of("Id"),
                    port: t.text_of("Port").parse().unwrap_or(0),
                    state: h.text_of("State"),
                    reason: h.text_of("Reason"),
                }
            })
            .collect())
    }

    pub async fn create_endpoint_service(&self, lb: &str, acceptance_required: bool) -> Result<ServiceConfiguration> {
        let r = self
            .ec2(
                "CreateVpcEndpointServiceConfiguration",
                &[("NetworkLoadBalancerArn.1", s(lb)), ("AcceptanceRequired", acceptance_required.to_string())],
            )
            .await?;
        let c = r.child("serviceConfiguration").ok_or_else(|| missing("serviceConfiguration"))?;
        Ok(ServiceConfiguration {
            id: c.text_of("serviceId"),
            name: c.text_of("serviceName"),
            state: c.text_of("serviceState"),
            acceptance_required: c.text_of("acceptanceRequired") == "true",
        })
    }

    /// Allows principals (`arn:aws:iam::ACCOUNT:root`, `*`) to use a service.
    pub async fn allow_principals(&self, service_id: &str, principals: &[&str]) -> Result<()> {
        let mut params = vec![("ServiceId".to_string(), s(service_id))];
        params.extend(numbered("AddAllowedPrincipals", principals));
        self.ec2("ModifyVpcEndpointServicePermissions", &refs(&params)).await?;
        Ok(())
    }

    /// The names of the services this caller may use.
    pub async fn describe_service_names(&self) -> Result<Vec<String>> {
        Ok(texts(&self.ec2("DescribeVpcEndpointServices", &[]).await?, "serviceNameSet"))
    }

    pub async fn create_interface_endpoint(
        &self,
        vpc: &str,
        service_name: &str,
        subnets: &[&str],
        groups: &[&str],
        private_dns: Option<bool>,
    ) -> Result<Endpoint> {
        let mut params = vec![
            ("VpcId".to_string(), s(vpc)),
            ("ServiceName".into(), s(service_name)),
            ("VpcEndpointType".into(), s("Interface")),
        ];
        params.extend(numbered("SubnetId", subnets));
        params.extend(numbered("SecurityGroupId", groups));
        if let Some(p) = private_dns {
            params.push(("PrivateDnsEnabled".into(), p.to_string()));
        }
        let r = self.ec2("CreateVpcEndpoint", &refs(&params)).await?;
        r.child("vpcEndpoint").map(endpoint).ok_or_else(|| missing("vpcEndpoint"))
    }

    pub async fn describe_endpoint(&self, id: &str) -> Result<Endpoint> {
        let r = self.ec2("DescribeVpcEndpoints", &[("VpcEndpointId.1", s(id))]).await?;
        r.list("vpcEndpointSet").first().map(|e| endpoint(e)).ok_or_else(|| missing("endpoint"))
    }

    /// Polls like AWS's waiters (through `pending`) until the endpoint is
    /// available; fails on a final state or after `timeout`.
    pub async fn wait_until_available(&self, id: &str, timeout: Duration) -> Result<Endpoint> {
        let deadline = Instant::now() + timeout;
        loop {
            let e = self.describe_endpoint(id).await?;
            match e.state.as_str() {
                "available" => return Ok(e),
                "rejected" | "failed" | "deleted" | "deleting" | "expired" => {
                    return Err(Error::Parse(format!("endpoint {id} ended in state {}", e.state)))
                }
                _ if Instant::now() >= deadline => {
                    return Err(Error::Parse(format!("endpoint {id} still {} after {timeout:?}", e.state)))
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub async fn describe_connections(&self, service_id: &str) -> Result<Vec<Connection>> {
        let r = self
            .ec2(
                "DescribeVpcEndpointConnections",
                &[("Filter.1.Name", s("service-id")), ("Filter.1.Value.1", s(service_id))],
            )
            .await?;
        Ok(r.list("vpcEndpointConnectionSet")
            .iter()
            .map(|c| Connection {
                endpoint_id: c.text_of("vpcEndpointId"),
                owner: c.text_of("vpcEndpointOwner"),
                state: c.text_of("vpcEndpointState"),
            })
            .collect())
    }

    /// Accepts connections; returns AWS's per-item failures.
    pub async fn accept_connections(&self, service_id: &str, endpoints: &[&str]) -> Result<Vec<(String, String)>> {
        let mut params = vec![("ServiceId".to_string(), s(service_id))];
        params.extend(numbered("VpcEndpointId", endpoints));
        let r = self.ec2("AcceptVpcEndpointConnections", &refs(&params)).await?;
        Ok(unsuccessful(&r))
    }

    pub async fn reject_connections(&self, service_id: &str, endpoints: &[&str]) -> Result<Vec<(String, String)>> {
        let mut params = vec![("ServiceId".to_string(), s(service_id))];
        params.extend(numbered("VpcEndpointId", endpoints));
        let r = self.ec2("RejectVpcEndpointConnections", &refs(&params)).await?;
        Ok(unsuccessful(&r))
    }

    pub async fn delete_endpoints(&self, ids: &[&str]) -> Result<Vec<(String, String)>> {
        let r = self.ec2("DeleteVpcEndpoints", &refs(&numbered("VpcEndpointId", ids))).await?;
        Ok(unsuccessful(&r))
    }

    pub async fn describe_network_interfaces(&self, ids: &[String]) -> Result<Vec<NetworkInterface>> {
        let r = self.ec2("DescribeNetworkInterfaces", &refs(&numbered("NetworkInterfaceId", ids))).await?;
        Ok(r.list("networkInterfaceSet")
            .iter()
            .map(|n| NetworkInterface {
                id: n.text_of("networkInterfaceId"),
                subnet_id: n.text_of("subnetId"),
                zone: n.text_of("availabilityZone"),
                private_ip: n.text_of("privateIpAddress"),
                description: n.text_of("description"),
            })
            .collect())
    }
}

/// (resource id, error code) of each failed item.
fn unsuccessful(r: &Element) -> Vec<(String, String)> {
    r.list("unsuccessful")
        .iter()
        .map(|u| (u.text_of("resourceId"), u.child("error").map(|e| e.text_of("code")).unwrap_or_default()))
        .collect()
}
