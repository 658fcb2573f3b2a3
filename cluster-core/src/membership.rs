//! Cluster membership, ordered messaging and quorum from Corosync 3 (CPG + votequorum).
