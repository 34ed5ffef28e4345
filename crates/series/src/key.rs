//! Series identity: a tenant, a kind and the names of a node, pod or container.

use crate::codec::{get_u64, put_varint};

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The node (root cgroup or `/proc`).
    Node,
    /// A pod cgroup (sandbox included), the kubelet's `pod_*`.
    Pod,
    /// A named container, the kubelet's `container_*`.
    Container,
}

impl Kind {
    /// `node`, `pod` or `container`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Pod => "pod",
            Kind::Container => "container",
        }
    }

    /// The inverse of [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "node" => Some(Kind::Node),
            "pod" => Some(Kind::Pod),
            "container" => Some(Kind::Container),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Kind::Node => 0,
            Kind::Pod => 1,
            Kind::Container => 2,
        }
    }
}

/// One series. Names a kind does not have are empty (a node series has no pod).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The tenant (`X-Scope-OrgID`).
    pub tenant: String,
    /// What is measured.
    pub kind: Kind,
    /// The node.
    pub node: String,
    /// The namespace (pods and containers).
    pub namespace: String,
    /// The pod (pods and containers).
    pub pod: String,
    /// The container (containers).
    pub container: String,
}

impl SeriesKey {
    /// A node's series.
    pub fn node(tenant: &str, node: &str) -> Self {
        Self::new(tenant, Kind::Node, node, "", "", "")
    }

    /// A series of any kind.
    pub fn new(
        tenant: &str,
        kind: Kind,
        node: &str,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            kind,
            node: node.into(),
            namespace: namespace.into(),
            pod: pod.into(),
            container: container.into(),
        }
    }

    /// Bytes held by the names.
    pub fn heap_bytes(&self) -> usize {
        self.tenant.capacity()
            + self.node.capacity()
            + self.namespace.capacity()
            + self.pod.capacity()
            + self.container.capacity()
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.kind.code());
        for s in [
            &self.tenant,
            &self.node,
            &self.namespace,
            &self.pod,
            &self.container,
        ] {
            put_varint(buf, s.len() as u128);
            buf.extend_from_slice(s.as_bytes());
        }
    }

    pub(crate) fn decode(bytes: &[u8], pos: &mut usize) -> Result<Self, String> {
        let kind = match bytes.get(*pos) {
            Some(0) => Kind::Node,
            Some(1) => Kind::Pod,
            Some(2) => Kind::Container,
            Some(k) => return Err(format!("unknown series kind {k}")),
            None => return Err("key runs past the end".into()),
        };
        *pos += 1;
        let mut s = || -> Result<String, String> {
            let len = get_u64(bytes, pos)? as usize;
            let end = pos
                .checked_add(len)
                .filter(|e| *e <= bytes.len())
                .ok_or_else(|| format!("name of {len} bytes runs past the end"))?;
            let v = std::str::from_utf8(&bytes[*pos..end])
                .map_err(|e| format!("name is not UTF-8: {e}"))?
                .to_owned();
            *pos = end;
            Ok(v)
        };
        Ok(Self {
            kind,
            tenant: s()?,
            node: s()?,
            namespace: s()?,
            pod: s()?,
            container: s()?,
        })
    }
}
