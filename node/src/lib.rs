//! An openraft node over fsmstore as a process: raft between nodes over HTTP, a JSON
//! key-value API for clients, and a network fault layer for tests.
//!
//! The library holds the parts: [`app`] (the key-value application and the raft type
//! config), [`api`] (the client API's bodies, the contract clients build on),
//! [`network`] (raft RPCs and the fault layer), [`server`] (the HTTP routes) and
//! [`args`] (the command line); [`run`] is the whole node.
//!
//! With `--groups N` a node serves N raft groups on two groups stores (one for every
//! group's log, one for every group's state machine); routes pick a group with
//! `?group=G` (see [`server::router`]).

pub mod api;
pub mod app;
pub mod args;
pub mod network;
pub mod node;
pub mod server;

pub use args::Args;
pub use node::run;
