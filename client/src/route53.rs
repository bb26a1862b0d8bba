//! Typed Route 53 calls for a friendly name: find or make a private hosted
//! zone, associate VPCs with it, point an alias record at an endpoint and
//! wait for the change to be in sync.

use std::time::{Duration, Instant};

use crate::api::{Client, Error, Result};
use crate::xml::Element;

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedZone {
    /// Without Route 53's `/hostedzone/` prefix.
    pub id: String,
    /// Lower case, with the trailing dot.
    pub name: String,
    pub private: bool,
    pub record_count: u64,
    /// (region, VPC id) of the VPCs a private zone answers in; filled by
    /// [`Client::get_hosted_zone`] only.
    pub vpcs: Vec<(String, String)>,
}

/// `name` as Route 53 lists it: lower case with one trailing dot.
pub fn zone_name(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn zone_of(e: &Element) -> HostedZone {
    HostedZone {
        id: e.text_of("Id").trim_start_matches("/hostedzone/").to_string(),
        name: e.text_of("Name"),
        private: e.child("Config").is_some_and(|c| c.text_of("PrivateZone") == "true"),
        record_count: e.text_of("ResourceRecordSetCount").parse().unwrap_or(0),
        vpcs: Vec::new(),
    }
}

fn change_id(answer: &Element) -> Result<String> {
    let info = answer.find("ChangeInfo").ok_or_else(|| Error::Parse("an answer without its ChangeInfo".into()))?;
    Ok(info.text_of("Id").trim_start_matches("/change/").to_string())
}

fn vpc_xml(region: &str, vpc_id: &str) -> String {
    format!("<VPC><VPCRegion>{}</VPCRegion><VPCId>{}</VPCId></VPC>", escape(region), escape(vpc_id))
}

impl Client {
    /// The caller's zone named `name` that is private (or public), if any.
    pub async fn find_hosted_zone(&self, name: &str, private: bool) -> Result<Option<HostedZone>> {
        let want = zone_name(name);
        let answer = self.route53("GET", "hostedzonesbyname", &[("dnsname", want.clone())], None).await?;
        Ok(answer.list("HostedZones").into_iter().map(zone_of).find(|z| z.name == want && z.private == private))
    }

    /// A zone with its VPCs.
    pub async fn get_hosted_zone(&self, id: &str) -> Result<HostedZone> {
        let answer = self.route53("GET", &format!("hostedzone/{id}"), &[], None).await?;
        let mut zone = zone_of(
            answer.child("HostedZone").ok_or_else(|| Error::Parse("GetHostedZone without a HostedZone".into()))?,
        );
        zone.vpcs = answer.list("VPCs").into_iter().map(|v| (v.text_of("VPCRegion"), v.text_of("VPCId"))).collect();
        Ok(zone)
    }

    /// A private zone answering in `vpc_id` (of this client's region);
    /// returns it and the id of its change.
    pub async fn create_private_zone(
        &self,
        name: &str,
        vpc_id: &str,
        caller_reference: &str,
    ) -> Result<(HostedZone, String)> {
        let body = format!(
            "<CreateHostedZoneRequest xmlns=\"{NS}\"><Name>{}</Name><CallerReference>{}</CallerReference>{}\
             <HostedZoneConfig><PrivateZone>true</PrivateZone></HostedZoneConfig></CreateHostedZoneRequest>",
            escape(name),
            escape(caller_reference),
            vpc_xml(self.region(), vpc_id)
        );
        let answer = self.route53("POST", "hostedzone", &[], Some(body)).await?;
        let zone = zone_of(
            answer.child("HostedZone").ok_or_else(|| Error::Parse("CreateHostedZone without a HostedZone".into()))?,
        );
        Ok((zone, change_id(&answer)?))
    }

    /// Associates a VPC (of this client's region) with a private zone;
    /// returns the change's id.
    pub async fn associate_vpc_with_zone(&self, zone_id: &str, vpc_id: &str) -> Result<String> {
        let body = format!(
            "<AssociateVPCWithHostedZoneRequest xmlns=\"{NS}\">{}</AssociateVPCWithHostedZoneRequest>",
            vpc_xml(self.region(), vpc_id)
        );
        let answer = self.route53("POST", &format!("hostedzone/{zone_id}/associatevpc"), &[], Some(body)).await?;
        change_id(&answer)
    }

    /// Creates or replaces the A record `name` as an alias to `target_name`
    /// in the zone `target_zone_id` (an endpoint's DNS entry, for one);
    /// returns the change's id.
    pub async fn upsert_alias(
        &self,
        zone_id: &str,
        name: &str,
        target_zone_id: &str,
        target_name: &str,
    ) -> Result<String> {
        let body = format!(
            "<ChangeResourceRecordSetsRequest xmlns=\"{NS}\"><ChangeBatch><Changes><Change><Action>UPSERT</Action>\
             <ResourceRecordSet><Name>{}</Name><Type>A</Type><AliasTarget><HostedZoneId>{}</HostedZoneId>\
             <DNSName>{}</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget>\
             </ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
            escape(name),
            escape(target_zone_id),
            escape(target_name)
        );
        let answer = self.route53("POST", &format!("hostedzone/{zone_id}/rrset"), &[], Some(body)).await?;
        change_id(&answer)
    }

    /// Polls GetChange until the change is INSYNC.
    pub async fn wait_for_change(&self, change_id: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.route53("GET", &format!("change/{change_id}"), &[], None).await?;
            let status = answer.find("ChangeInfo").map(|c| c.text_of("Status")).unwrap_or_default();
            if status == "INSYNC" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Parse(format!("change {change_id} still {status} after {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_read_from_route53_answers() {
        let answer = Element::parse(
            "<GetHostedZoneResponse><HostedZone><Id>/hostedzone/Z123</Id><Name>internal.example.com.</Name>\
             <Config><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>3</ResourceRecordSetCount>\
             </HostedZone><VPCs><VPC><VPCRegion>ap-northeast-1</VPCRegion><VPCId>vpc-1</VPCId></VPC></VPCs>\
             </GetHostedZoneResponse>",
        )
        .unwrap();
        let zone = zone_of(answer.child("HostedZone").unwrap());
        assert_eq!((zone.id.as_str(), zone.private, zone.record_count), ("Z123", true, 3));
        assert_eq!(zone_name("Internal.Example.com"), "internal.example.com.");
        assert_eq!(escape("a<b&'"), "a&lt;b&amp;&apos;");
    }
}
