//! Interface mode of the address plane: the simulated addresses of attached
//! VPCs made real on host interfaces, through netlink.
//!
//! Each `--attach CIDR[=INTERFACE]` names an address block that sits on a
//! real interface (a bridge, a veth, a docker network's interface); without
//! a name, the interface is the one already holding an address inside the
//! block. A VPC created inside an attached block keeps its own addresses
//! (see [`crate::addressing`]), and this module follows the model: every
//! ENI address, NLB node address and the VPC resolver (base + 2) of attached
//! VPCs is added to the interface with the VPC's prefix length, and removed
//! when its resource goes. Addresses the emulator did not add are never
//! touched; at shutdown it removes its own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

pub use crate::addressing::Attachment;
use crate::engine::Shared;
use crate::model::World;

/// An address the model wants on an interface: which block it belongs to
/// and the prefix length of its VPC (so the VPC's subnet is on-link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub attachment: usize,
    pub prefix: u8,
}

/// Every address attached VPCs need on the host: their resolver (when DNS
/// support is on), the addresses of their network interfaces and of the
/// NLB nodes in their subnets.
pub fn wanted(world: &World, attachments: &[Attachment]) -> BTreeMap<Ipv4Addr, Wanted> {
    let mut out = BTreeMap::new();
    for region in world.regions() {
        for vpc in region.vpcs.values().filter(|v| v.attached) {
            let Some(attachment) = attachments.iter().position(|a| a.cidr.contains_cidr(&vpc.cidr)) else {
                continue;
            };
            let want = Wanted { attachment, prefix: vpc.cidr.prefix() };
            if vpc.enable_dns_support {
                out.insert(vpc.resolver_address(), want);
            }
            for eni in region.network_interfaces.values().filter(|n| n.vpc_id == vpc.id) {
                out.insert(eni.private_ip, want);
            }
            for lb in region.load_balancers.values().filter(|l| l.vpc_id == vpc.id) {
                for node in &lb.nodes {
                    out.insert(node.private_ip, want);
                }
            }
        }
    }
    out
}

/// The file of a state directory listing the addresses the emulator added.
pub const LEDGER: &str = "netplane.json";

/// The ledger's addresses (none when it is missing or unreadable).
fn read_ledger(path: &Path) -> BTreeMap<Ipv4Addr, (u32, u8)> {
    let Ok(bytes) = std::fs::read(path) else { return BTreeMap::new() };
    match serde_json::from_slice::<Vec<(Ipv4Addr, u32, u8)>>(&bytes) {
        Ok(entries) => entries.into_iter().map(|(ip, i, p)| (ip, (i, p))).collect(),
        Err(e) => {
            warn!(ledger = %path.display(), error = %e, "the interface address ledger is unreadable; ignoring it");
            BTreeMap::new()
        }
    }
}

/// How long the plane lets changes pile up before it applies them.
const DEBOUNCE: Duration = Duration::from_millis(5);

/// A resolved attachment: the interface's index and name.
#[derive(Debug, Clone)]
struct Link {
    index: u32,
    name: String,
}

pub struct NetPlane {
    shared: Arc<Shared>,
    attachments: Vec<Attachment>,
    links: Vec<Link>,
    handle: rtnetlink::Handle,
    /// Addresses this process added, with the interface and prefix used.
    added: Mutex<BTreeMap<Ipv4Addr, (u32, u8)>>,
    /// With a state directory: where `added` is kept, so a process started
    /// after a crash knows which addresses on the interfaces are its own.
    ledger: Option<PathBuf>,
    /// What the ledger held at start: these addresses, found already on an
    /// interface, are adopted instead of left alone.
    inherited: BTreeMap<Ipv4Addr, (u32, u8)>,
    failures: Mutex<BTreeMap<Ipv4Addr, String>>,
    stop: watch::Sender<bool>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl NetPlane {
    /// Resolves every attachment to an interface (an error names the one
    /// that cannot be found) and starts following the model.
    /// With `state_dir`, the addresses it adds are listed there
    /// ([`LEDGER`]), and those a crashed process left behind are adopted.
    pub async fn start(
        shared: Arc<Shared>,
        attachments: Vec<Attachment>,
        state_dir: Option<&Path>,
    ) -> Result<Arc<NetPlane>, String> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
        tokio::spawn(connection);
        let mut links = Vec::new();
        for a in &attachments {
            let link = resolve(&handle, a).await?;
            promote_secondaries(&link.name);
            info!(attachment = %a, interface = %link.name, index = link.index, "vpc addresses inside the block live on this interface");
            links.push(link);
        }
        let (stop, _) = watch::channel(false);
        let ledger = state_dir.map(|d| d.join(LEDGER));
        let inherited = ledger.as_deref().map(read_ledger).unwrap_or_default();
        let plane = Arc::new(NetPlane {
            ledger,
            inherited,
            shared: shared.clone(),
            attachments,
            links,
            handle,
            added: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            stop,
            done: Mutex::new(None),
        });
        let events = shared.subscribe();
        let settled = shared.follower("netplane");
        let revision = shared.revision();
        plane.adopt().await;
        plane.reconcile().await;
        settled.send_replace(revision);
        let task = tokio::spawn(follow(plane.clone(), events, settled, plane.stop.subscribe()));
        *plane.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        let weak = Arc::downgrade(&plane);
        shared.add_status("netplane", move || weak.upgrade().map(|p| p.status()).unwrap_or(Value::Null));
        Ok(plane)
    }

    /// Takes on the addresses an earlier process of this state directory
    /// added and did not remove (it was killed): those the world still
    /// wants are ours again, the others are removed now.
    async fn adopt(&self) {
        if self.inherited.is_empty() {
            return;
        }
        let wanted = {
            let world = self.shared.world();
            wanted(&world, &self.attachments)
        };
        let mut kept = 0;
        for (ip, (index, prefix)) in &self.inherited {
            let same = wanted.get(ip).is_some_and(|w| self.links[w.attachment].index == *index && w.prefix == *prefix);
            if same {
                self.added.lock().unwrap_or_else(|e| e.into_inner()).insert(*ip, (*index, *prefix));
                kept += 1;
            } else {
                self.remove(*ip, *index, *prefix).await;
            }
        }
        info!(adopted = kept, removed = self.inherited.len() - kept, "addresses left by an earlier process taken over");
        self.write_ledger();
    }

    /// Lists the addresses this process added in the ledger (written whole
    /// to a temporary file and renamed, so a crash leaves one or the other).
    fn write_ledger(&self) {
        let Some(path) = &self.ledger else { return };
        let entries: Vec<(Ipv4Addr, u32, u8)> =
            self.added.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(ip, (i, p))| (*ip, *i, *p)).collect();
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec(&entries)
            .map_err(std::io::Error::other)
            .and_then(|body| std::fs::write(&tmp, body))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            warn!(ledger = %path.display(), error = %e, "cannot list the interface addresses in the state directory");
        }
    }

    /// Adds what the model wants and removes what it no longer does.
    async fn reconcile(&self) {
        let wanted = {
            let world = self.shared.world();
            wanted(&world, &self.attachments)
        };
        let current: BTreeMap<Ipv4Addr, (u32, u8)> = self.added.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (ip, (index, prefix)) in &current {
            let keep = wanted.get(ip).is_some_and(|w| self.links[w.attachment].index == *index && w.prefix == *prefix);
            if !keep {
                self.remove(*ip, *index, *prefix).await;
            }
        }
        let mut failures = BTreeMap::new();
        for (ip, w) in &wanted {
            let index = self.links[w.attachment].index;
            if self.added.lock().unwrap_or_else(|e| e.into_inner()).contains_key(ip) {
                continue;
            }
            match self.handle.address().add(index, (*ip).into(), w.prefix).execute().await {
                Ok(()) => {
                    debug!(address = %ip, interface = %self.links[w.attachment].name, "address added");
                    self.added.lock().unwrap_or_else(|e| e.into_inner()).insert(*ip, (index, w.prefix));
                }
                // Already there, and not ours: leave it alone, never remove it.
                Err(e) if is_exists(&e) => {}
                Err(e) => {
                    let why = format!("cannot add {ip}/{} to {}: {e}", w.prefix, self.links[w.attachment].name);
                    if self.failures.lock().unwrap_or_else(|e| e.into_inner()).get(ip) != Some(&why) {
                        warn!("{why}");
                    }
                    failures.insert(*ip, why);
                }
            }
        }
        *self.failures.lock().unwrap_or_else(|e| e.into_inner()) = failures;
        let now: BTreeMap<Ipv4Addr, (u32, u8)> = self.added.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if now != current {
            self.write_ledger();
        }
    }

    async fn remove(&self, ip: Ipv4Addr, index: u32, prefix: u8) {
        let message = rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new().index(index).address(ip, prefix).build();
        match self.handle.address().del(message).execute().await {
            Ok(()) => debug!(address = %ip, "address removed"),
            Err(e) => debug!(address = %ip, error = %e, "address already gone"),
        }
        self.added.lock().unwrap_or_else(|e| e.into_inner()).remove(&ip);
    }

    pub fn status(&self) -> Value {
        let added = self.added.lock().unwrap_or_else(|e| e.into_inner());
        let attachments: Vec<Value> = self
            .attachments
            .iter()
            .zip(&self.links)
            .map(|(a, l)| {
                let addresses: Vec<String> =
                    added.iter().filter(|(_, (i, _))| *i == l.index).map(|(ip, (_, p))| format!("{ip}/{p}")).collect();
                json!({"block": a.cidr.to_string(), "interface": l.name, "addresses": addresses})
            })
            .collect();
        let failures: Vec<String> = self.failures.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        json!({"attachments": attachments, "failures": failures})
    }

    /// Stops following the model and removes every address it added.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let added: Vec<(Ipv4Addr, (u32, u8))> =
            self.added.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, *v)).collect();
        let count = added.len();
        for (ip, (index, prefix)) in added {
            self.remove(ip, index, prefix).await;
        }
        self.write_ledger();
        info!(removed = count, "interface addresses removed");
    }
}

async fn follow(
    plane: Arc<NetPlane>,
    mut events: broadcast::Receiver<crate::model::Event>,
    settled: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = events.recv() => match r {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    tokio::time::sleep(DEBOUNCE).await;
                    // Every event up to this revision is queued by now.
                    let revision = plane.shared.revision();
                    while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
                    plane.reconcile().await;
                    settled.send_replace(plane.shared.caught_up(&events, revision));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = stop.changed() => break,
        }
    }
}

fn is_exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc::EEXIST)
}

/// The interface of an attachment: by name, or the one holding an address
/// inside the block.
async fn resolve(handle: &rtnetlink::Handle, a: &Attachment) -> Result<Link, String> {
    use futures_util::TryStreamExt;
    use rtnetlink::packet_route::address::AddressAttribute;
    use rtnetlink::packet_route::link::LinkAttribute;

    let index = match &a.interface {
        Some(name) => {
            let mut links = handle.link().get().match_name(name.clone()).execute();
            match links.try_next().await {
                Ok(Some(link)) => link.header.index,
                Ok(None) | Err(_) => return Err(format!("attachment {a}: no interface named '{name}'")),
            }
        }
        None => {
            let mut found = BTreeSet::new();
            let mut addresses = handle.address().get().execute();
            while let Some(m) = addresses.try_next().await.map_err(|e| format!("cannot list addresses: {e}"))? {
                let inside = m.attributes.iter().any(
                    |attr| matches!(attr, AddressAttribute::Address(std::net::IpAddr::V4(ip)) if a.cidr.contains(*ip)),
                );
                if inside {
                    found.insert(m.header.index);
                }
            }
            match found.len() {
                1 => found.into_iter().next().unwrap_or_default(),
                0 => {
                    return Err(format!(
                        "attachment {a}: no interface holds an address inside {}; name one with {}=INTERFACE",
                        a.cidr, a.cidr
                    ))
                }
                _ => {
                    return Err(format!(
                        "attachment {a}: several interfaces hold addresses inside {}; name one with {}=INTERFACE",
                        a.cidr, a.cidr
                    ))
                }
            }
        }
    };
    let mut links = handle.link().get().match_index(index).execute();
    let name = match links.try_next().await {
        Ok(Some(link)) => link
            .attributes
            .iter()
            .find_map(|attr| match attr {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("#{index}")),
        _ => format!("#{index}"),
    };
    Ok(Link { index, name })
}

/// Removing the first address of a subnet removes the others with it unless
/// the interface promotes secondaries; the emulator's addresses come and go
/// in any order, so ask for promotion (best effort).
fn promote_secondaries(interface: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{interface}/promote_secondaries");
    if let Err(e) = std::fs::write(&path, "1") {
        warn!(%interface, error = %e, "cannot turn on promote_secondaries; removing addresses may remove others of the same subnet");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Caller, Settings};

    #[test]
    fn only_attached_vpcs_want_addresses() {
        let settings = Settings { attached: vec!["10.24.0.0/16".parse().unwrap()], ..Settings::default() };
        let mut w = World::new(settings);
        let caller = Caller::root("111111111111", "ap-northeast-1");
        let inside = w.create_vpc(&caller, 0, "10.24.0.0/16", None, Default::default()).unwrap();
        let twin = w.create_vpc(&caller, 0, "10.24.0.0/16", None, Default::default()).unwrap();
        let outside = w.create_vpc(&caller, 0, "10.0.0.0/16", None, Default::default()).unwrap();
        assert!(inside.attached);
        assert!(!twin.attached, "an overlapping VPC stays on loopback");
        assert!(!outside.attached);
        let attachments = vec!["10.24.0.0/16".parse().unwrap()];
        let want = wanted(&w, &attachments);
        assert_eq!(want.keys().copied().collect::<Vec<_>>(), vec![Ipv4Addr::new(10, 24, 0, 2)]);
        assert_eq!(want[&Ipv4Addr::new(10, 24, 0, 2)], Wanted { attachment: 0, prefix: 16 });
    }
}
