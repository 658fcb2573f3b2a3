//! Meta-data of Debian's agents, fetched through the executor and parsed.

mod exec_common;

use cluster_core::exec::metadata::{AgentMetadata, MetadataCache};
use cluster_core::exec::{AgentRequest, OcfExit};
use exec_common::runner;

#[test]
fn exec_metadata_of_debian_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = runner(tmp.path());
    let mut cache = MetadataCache::new(2);
    for (provider, agent) in
        [("heartbeat", "Dummy"), ("heartbeat", "IPaddr2"), ("pacemaker", "Stateful")]
    {
        let res = r.run(AgentRequest::ocf("md", provider, agent, "meta-data"));
        assert_eq!(res.rc, OcfExit::Ok, "{agent}");
        let md = AgentMetadata::parse(agent, &res.stdout).unwrap();
        assert_eq!(md.name, agent);
        assert!(md.has_action("start") && md.has_action("monitor"), "{agent}: {:?}", md.actions);
        cache.insert(&format!("ocf:{provider}:{agent}"), md);
    }
    assert_eq!(cache.len(), 2, "bounded");
    let ip = cache.get("ocf:heartbeat:IPaddr2").unwrap();
    let p = ip.param("ip").unwrap();
    assert!(p.required && p.unique, "{p:?}");
    assert_eq!(ip.param("cidr_netmask").unwrap().content_type, "string");
    let st = cache.get("ocf:pacemaker:Stateful").unwrap();
    assert!(
        st.actions.iter().any(|a| a.name == "monitor" && a.role.as_deref() == Some("Promoted")),
        "{:?}",
        st.actions
    );
    assert!(st.has_action("promote") && st.has_action("demote"));
    assert!(cache.get("ocf:heartbeat:Dummy").is_none(), "evicted");
    assert!(AgentMetadata::parse("x", "<cib/>").is_err());
    assert!(AgentMetadata::parse("x", "<resource-agent").is_err());
}
