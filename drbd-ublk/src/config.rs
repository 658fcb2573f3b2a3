//! DRBD's configuration syntax (`/etc/drbd.conf`, `include`, `resource`, `on HOST`).
