//! Names of the kubelet's QoS, pod and container cgroups for both drivers (spec §5.2).

/// The kubelet's cgroup driver, told apart by the top directory's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Driver {
    /// `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/<runtime>-<id>.scope`.
    Systemd,
    /// `kubepods/<qos>/pod<uid>/<id>`.
    Cgroupfs,
}

impl Driver {
    /// The top-level directory under the cgroup root.
    pub fn top_dir(self) -> &'static str {
        match self {
            Driver::Systemd => "kubepods.slice",
            Driver::Cgroupfs => "kubepods",
        }
    }
}

/// A pod's QoS class, from the level its cgroup sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// Directly under `kubepods`.
    Guaranteed,
    /// Under `kubepods-burstable.slice` or `kubepods/burstable`.
    Burstable,
    /// Under `kubepods-besteffort.slice` or `kubepods/besteffort`.
    BestEffort,
}

impl Qos {
    fn word(self) -> &'static str {
        match self {
            Qos::Guaranteed => "",
            Qos::Burstable => "burstable",
            Qos::BestEffort => "besteffort",
        }
    }
}

/// Which runtime named a container cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `cri-containerd-<id>.scope` (systemd) or a bare `<id>` (cgroupfs).
    Containerd,
    /// `crio-<id>.scope` (systemd) or `crio-<id>` (cgroupfs).
    CriO,
}

/// The QoS level directory `name` stands for, under the `kubepods` directory.
pub(crate) fn qos_dir(driver: Driver, name: &str) -> Option<Qos> {
    [Qos::Burstable, Qos::BestEffort]
        .into_iter()
        .find(|q| match driver {
            Driver::Systemd => {
                name.strip_prefix("kubepods-")
                    .and_then(|r| r.strip_suffix(".slice"))
                    == Some(q.word())
            }
            Driver::Cgroupfs => name == q.word(),
        })
}

/// The pod UID (with dashes) of a pod cgroup directory under the level of `qos`.
pub(crate) fn pod_dir(driver: Driver, qos: Qos, name: &str) -> Option<String> {
    let uid = match driver {
        Driver::Systemd => {
            let prefix = match qos {
                Qos::Guaranteed => "kubepods-pod".to_owned(),
                q => format!("kubepods-{}-pod", q.word()),
            };
            name.strip_prefix(prefix.as_str())?.strip_suffix(".slice")?
        }
        Driver::Cgroupfs => name.strip_prefix("pod")?,
    };
    // systemd escapes `-` in a unit name component as `_`; UIDs are hex and dashes, a
    // static pod's is a 32-digit hash.
    let ok = !uid.is_empty()
        && uid.bytes().all(|b| match b {
            b'0'..=b'9' | b'a'..=b'f' => true,
            b'_' => driver == Driver::Systemd,
            b'-' => driver == Driver::Cgroupfs,
            _ => false,
        });
    ok.then(|| uid.replace('_', "-"))
}

/// The runtime and 64-hex id of a container cgroup directory inside a pod cgroup, or
/// `None` for anything else (CRI-O's `crio-conmon-<id>.scope`, kernel files).
pub(crate) fn container_dir(driver: Driver, name: &str) -> Option<(Runtime, &str)> {
    let (runtime, id) = match driver {
        Driver::Systemd => {
            let stem = name.strip_suffix(".scope")?;
            if let Some(id) = stem.strip_prefix("cri-containerd-") {
                (Runtime::Containerd, id)
            } else {
                (Runtime::CriO, stem.strip_prefix("crio-")?)
            }
        }
        Driver::Cgroupfs => match name.strip_prefix("crio-") {
            Some(id) => (Runtime::CriO, id),
            None => (Runtime::Containerd, name),
        },
    };
    is_container_id(id).then_some((runtime, id))
}

/// 64 lowercase hex digits.
pub(crate) fn is_container_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c";

    #[test]
    fn names() {
        use Driver::*;
        assert_eq!(
            qos_dir(Systemd, "kubepods-burstable.slice"),
            Some(Qos::Burstable)
        );
        assert_eq!(
            qos_dir(Systemd, "kubepods-besteffort.slice"),
            Some(Qos::BestEffort)
        );
        assert_eq!(qos_dir(Systemd, "kubepods-.slice"), None);
        assert_eq!(qos_dir(Cgroupfs, "burstable"), Some(Qos::Burstable));
        assert_eq!(qos_dir(Cgroupfs, ""), None);
        let uid = "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b";
        let systemd_uid = uid.replace('-', "_");
        let cases = [
            (
                Systemd,
                Qos::Burstable,
                format!("kubepods-burstable-pod{systemd_uid}.slice"),
                Some(uid),
            ),
            (
                Systemd,
                Qos::Guaranteed,
                format!("kubepods-pod{systemd_uid}.slice"),
                Some(uid),
            ),
            (
                Systemd,
                Qos::BestEffort,
                format!("kubepods-besteffort-pod{systemd_uid}.slice"),
                Some(uid),
            ),
            (
                Systemd,
                Qos::Guaranteed,
                format!("kubepods-burstable-pod{systemd_uid}.slice"),
                None,
            ),
            (
                Systemd,
                Qos::Guaranteed,
                format!("kubepods-pod{uid}.slice"),
                None,
            ),
            (Cgroupfs, Qos::Burstable, format!("pod{uid}"), Some(uid)),
            (Cgroupfs, Qos::Guaranteed, format!("pod{systemd_uid}"), None),
            (Cgroupfs, Qos::Guaranteed, "pod".into(), None),
            (Cgroupfs, Qos::Guaranteed, "podX".into(), None),
        ];
        for (d, q, name, want) in cases {
            assert_eq!(pod_dir(d, q, &name).as_deref(), want, "{name}");
        }
        assert_eq!(
            container_dir(Systemd, &format!("cri-containerd-{ID}.scope")),
            Some((Runtime::Containerd, ID))
        );
        assert_eq!(
            container_dir(Systemd, &format!("crio-{ID}.scope")),
            Some((Runtime::CriO, ID))
        );
        assert_eq!(
            container_dir(Systemd, &format!("crio-conmon-{ID}.scope")),
            None
        );
        assert_eq!(container_dir(Systemd, &format!("crio-{ID}")), None);
        assert_eq!(container_dir(Cgroupfs, ID), Some((Runtime::Containerd, ID)));
        assert_eq!(
            container_dir(Cgroupfs, &format!("crio-{ID}")),
            Some((Runtime::CriO, ID))
        );
        assert_eq!(container_dir(Cgroupfs, &ID[1..]), None);
        assert_eq!(container_dir(Cgroupfs, &ID.to_uppercase()), None);
    }
}
