//! The crm shell language: `crm configure` verbs to CIB XML and back.
