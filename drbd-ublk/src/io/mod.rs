//! Local I/O on the backing device.
