//! `kubectl top` golden outputs (spec §5.5; alignment by Go's tabwriter rules).

use kelp_metrics::top::{
    nodes, pods, ContainerUsage, NodeOptions, NodeUsage, PodOptions, PodUsage, SortBy,
};

fn node_a() -> NodeUsage {
    NodeUsage {
        name: "node-a".into(),
        usage: Some((187_263_491, 1_878_544_384)),
        available: Some((4_000, 8_053_063_680)),
    }
}

#[test]
fn top_node_spec_example() {
    let want = "\
NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   
node-a   188m         4%       1791Mi          23%         
";
    assert_eq!(nodes(&[node_a()], &NodeOptions::default()), want);
    let b = NodeUsage {
        name: "node-b".into(),
        usage: None,
        available: Some((4_000, 1)),
    };
    let want = "\
NAME     CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   
node-a   188m         4%          1791Mi          23%         
node-b   <unknown>    <unknown>   <unknown>       <unknown>   
";
    assert_eq!(nodes(&[b.clone(), node_a()], &NodeOptions::default()), want);
    assert_eq!(nodes(&[b], &NodeOptions::default()), "");
    let opts = NodeOptions {
        no_headers: true,
        sort_by: SortBy::Memory,
    };
    assert_eq!(
        nodes(&[node_a()], &opts),
        "node-a   188m   4%    1791Mi   23%   \n"
    );
}

fn two_pods() -> Vec<PodUsage> {
    let c = |name: &str, cpu, mem| ContainerUsage {
        name: name.into(),
        cpu_nanocores: cpu,
        memory_bytes: mem,
    };
    vec![
        PodUsage {
            namespace: "shop".into(),
            name: "api-7d9c5b6f4d-x2x9q".into(),
            containers: vec![
                c("log-shipper", 1_500_000, 10 << 20),
                c("api", 8_230_452, 48_263_168),
            ],
        },
        PodUsage {
            namespace: "kube-system".into(),
            name: "coredns".into(),
            containers: vec![c("coredns", 3_000_000, 15 << 20)],
        },
    ]
}

#[test]
fn top_pod_all_namespaces_with_sum() {
    let opts = PodOptions {
        all_namespaces: true,
        sum: true,
        ..Default::default()
    };
    let want = "\
NAMESPACE     NAME                   CPU(cores)   MEMORY(bytes)   
kube-system   coredns                3m           15Mi            
shop          api-7d9c5b6f4d-x2x9q   10m          56Mi            
                                     ________     ________        
                                     13m          71Mi            
";
    assert_eq!(pods(&two_pods(), &opts), want);
}

#[test]
fn top_pod_containers_sorted_by_cpu() {
    let opts = PodOptions {
        containers: true,
        sort_by: "cpu".parse().unwrap(),
        ..Default::default()
    };
    let want = "\
POD                    NAME          CPU(cores)   MEMORY(bytes)   
api-7d9c5b6f4d-x2x9q   api           9m           46Mi            
api-7d9c5b6f4d-x2x9q   log-shipper   2m           10Mi            
coredns                coredns       3m           15Mi            
";
    assert_eq!(pods(&two_pods(), &opts), want);
    assert_eq!(
        "name".parse::<SortBy>().unwrap_err().to_string(),
        "--sort-by accepts only cpu or memory"
    );
}

/// kubectl counts the NAMESPACE column for `--sum` only while printing headers, so with
/// `--no-headers` the totals slide one column left; the tabwriter's column blocks follow.
#[test]
fn top_pod_no_headers_sum_quirk() {
    let opts = PodOptions {
        all_namespaces: true,
        no_headers: true,
        sum: true,
        ..Default::default()
    };
    let want = "\
kube-system   coredns                3m         15Mi   
shop          api-7d9c5b6f4d-x2x9q   10m        56Mi   
              ________               ________   
              13m                    71Mi       
";
    assert_eq!(pods(&two_pods(), &opts), want);
    assert_eq!(pods(&[], &opts), "");
}
