//! `Collector`: repeated collections keep files open (one pread each) and still see new
//! values and new containers, and let go of cgroups that are gone.

use kelp_metrics::cgroup::{Driver, Qos, Runtime};
use kelp_metrics::collect::{is_cgroup2_mount, Collector};

use crate::fixture;

#[test]
fn kept_files_read_new_values_and_gone_cgroups_are_let_go() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let src = fixture::node(dir, 1000, "anon 10\nfile 20\ninactive_file 5\n");
    let uid = fixture::uid(1);
    let pod = src
        .cgroup_root
        .join(fixture::pod_dir(Driver::Systemd, Qos::Burstable, &uid));
    fixture::cgroup(&pod, 30, 3000, 300);
    let mut dirs = Vec::new();
    for c in 0..2 {
        let id = fixture::id(c);
        let d = pod.join(fixture::container_dir(
            Driver::Systemd,
            Runtime::Containerd,
            &id,
        ));
        fixture::cgroup(&d, 10 + u64::from(c), 1000, 100);
        fixture::log(
            [&src.pods_dir, &src.containers_dir],
            "shop",
            "web-1",
            &uid,
            &format!("c{c}"),
            0,
            &id,
        );
        dirs.push((d, id));
    }
    assert!(!is_cgroup2_mount(dir));
    let mut col = Collector::with_kept_files(src.clone(), true);
    let first = col.collect().unwrap();
    let cpu = |c: &kelp_metrics::collect::Collection, i: usize| {
        c.joined.pods[0].containers[i].usage.cpu_ns
    };
    assert_eq!((cpu(&first, 0), cpu(&first, 1)), (10_000, 11_000));
    assert_eq!(col.open_files(), 9);
    // Rewritten in place (as cgroupfs regenerates a file): the kept descriptor sees it.
    fixture::cgroup(&dirs[0].0, 50, 1000, 100);
    let second = col.collect().unwrap();
    assert_eq!(cpu(&second, 0), 50_000);
    assert_eq!(
        second.joined.pods[0].containers[0].start_time,
        first.joined.pods[0].containers[0].start_time
    );
    // A new container with a log: the pod cgroup is listed again and it is read.
    let id = fixture::id(7);
    let d = pod.join(fixture::container_dir(
        Driver::Systemd,
        Runtime::Containerd,
        &id,
    ));
    fixture::cgroup(&d, 70, 1000, 100);
    fixture::log(
        [&src.pods_dir, &src.containers_dir],
        "shop",
        "web-1",
        &uid,
        "c7",
        0,
        &id,
    );
    let fourth = col.collect().unwrap();
    let names: Vec<&str> = fourth.joined.pods[0]
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["c0", "c1", "c7"]);
    assert!(fourth.skipped.is_empty(), "{:?}", fourth.skipped);
    assert_eq!(col.open_files(), 12);

    // A container gone. On cgroupfs a kept descriptor of a removed cgroup answers ENODEV;
    // files here stay readable once open, so this part runs without kept files: the
    // cached listing's entry is found gone (not reported as unreadable), and its files
    // are let go.
    let mut col = Collector::with_kept_files(src.clone(), false);
    col.collect().unwrap();
    std::fs::remove_dir_all(&dirs[1].0).unwrap();
    let gone = col.collect().unwrap();
    let names: Vec<&str> = gone.joined.pods[0]
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["c0", "c7"]);
    assert!(gone.skipped.is_empty(), "{:?}", gone.skipped);
    assert_eq!(col.collect().unwrap().joined.pods[0].containers.len(), 2);
}

/// The log tree is listed again only when a directory's mtime moved (or every 20
/// collections, or when its mtime is too close to the listing to be trusted); a new
/// container's symlink moves it, so it is named at the next collection.
#[test]
fn the_log_tree_is_listed_again_only_when_it_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture::node(tmp.path(), 1000, "anon 10\nfile 20\ninactive_file 5\n");
    let uid = fixture::uid(1);
    let pod = src
        .cgroup_root
        .join(fixture::pod_dir(Driver::Systemd, Qos::Burstable, &uid));
    fixture::cgroup(&pod, 30, 3000, 300);
    let add = |c: u32| {
        let id = fixture::id(c);
        let d = pod.join(fixture::container_dir(
            Driver::Systemd,
            Runtime::Containerd,
            &id,
        ));
        fixture::cgroup(&d, 10, 1000, 100);
        let dirs = [src.pods_dir.as_path(), src.containers_dir.as_path()];
        fixture::log(dirs, "shop", "web-1", &uid, &format!("c{c}"), 0, &id);
    };
    add(0);
    // Both directories last changed a minute ago: a listing can be trusted.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let age = |dir: &std::path::Path| {
        std::fs::File::open(dir).unwrap().set_modified(old).unwrap();
    };
    age(&src.pods_dir);
    age(&src.containers_dir);
    let mut col = Collector::with_kept_files(src.clone(), false);
    for _ in 0..5 {
        assert_eq!(col.collect().unwrap().joined.pods[0].containers.len(), 1);
    }
    assert_eq!(col.log_tree_listings(), 1);
    add(1);
    let names: Vec<String> = col.collect().unwrap().joined.pods[0]
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["c0", "c1"]);
    assert_eq!(col.log_tree_listings(), 2);
    // Changed within the last 2 s of the listing: listed again each time until it is older.
    col.collect().unwrap();
    assert_eq!(col.log_tree_listings(), 3);
    age(&src.pods_dir);
    age(&src.containers_dir);
    for _ in 0..25 {
        col.collect().unwrap();
    }
    // Once for the new mtimes, then again after 20 collections.
    assert_eq!(col.log_tree_listings(), 5);
}
