//! Cluster status text in crm_mon's layout (node list, resource list), shared by crm_mon and crm_simulate.
