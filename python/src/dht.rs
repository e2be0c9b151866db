//! `DHT`: one libp2p node of ours (Kademlia and gossipsub), which every tracker given this
//! object shares, as hivemind's `DHT` object is shared by its trackers and averagers.
//!
//! The node is configured like the command line's `[dht]` section (the embedded defaults, then
//! the arguments), so its checks and their messages are the same; an impossible argument is a
//! `ValueError` naming it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use swarm_progress::settings::Settings;
use swarm_progress::{Identity, KademliaPeer, NodeConfig, NodeHandle, NodeInfo, SystemClock};

use crate::errors::{bad_argument, settings_error, SwarmProgressError};
use crate::{exit, lock};

/// hivemind's default: listen on a free TCP port of the loopback interface.
const DEFAULT_HOST_MADDRS: &str = "/ip4/127.0.0.1/tcp/0";

/// A DHT node (hivemind's `hivemind.DHT`): pass it to `ProgressTracker`; pass its
/// `get_visible_maddrs()` to other peers' `initial_peers`.
#[pyclass(frozen, name = "DHT", module = "swarm_progress")]
pub struct Dht {
    identity: Arc<Identity>,
    config: NodeConfig,
    /// `tracker.authority` and `tracker.revoked_peers` of the trackers on this node.
    authority: String,
    revoked_peers: Vec<String>,
    node: Arc<Mutex<Option<NodeHandle>>>,
}

/// A list of multiaddr strings from `value` (any iterable of objects whose `str()` is a
/// multiaddr, such as hivemind's `Multiaddr`), refusing a lone string.
fn multiaddr_strings(argument: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.is_instance_of::<PyString>() {
        return Err(bad_argument(
            argument,
            "expected a list of multiaddrs, got a single string (wrap it in a list)",
        ));
    }
    let items = value
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{argument}: expected a list of multiaddrs")))?;
    items.map(|item| Ok(item?.str()?.to_string())).collect()
}

fn path_string(path: Option<PathBuf>) -> String {
    path.map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Dht {
    /// The node, if it is running.
    pub(crate) fn running_node(&self) -> Option<NodeHandle> {
        lock(&self.node)
            .as_ref()
            .filter(|node| node.is_running())
            .cloned()
    }

    /// A gateway factory for a tracker on this node, or an error if the node is not running.
    pub(crate) fn peer(&self) -> PyResult<KademliaPeer> {
        let node = self.running_node().ok_or_else(|| {
            SwarmProgressError::new_err("the DHT is not running (start it with run_in_background)")
        })?;
        Ok(KademliaPeer::sharing(
            self.identity.clone(),
            self.config.clone(),
            node,
        ))
    }

    /// The private collaboration's authority and revocations the node enforces.
    pub(crate) fn admission_settings(&self) -> (String, Vec<String>) {
        (self.authority.clone(), self.revoked_peers.clone())
    }
}

#[pymethods]
impl Dht {
    /// Creates a node; with `start=True` (the default) it is listening and joining the swarm
    /// when this returns. `initial_peers`: multiaddrs (with `/p2p/<peer id>`) of peers already
    /// in the swarm, none for the first peer. `host_maddrs`: addresses to listen on (default
    /// `/ip4/127.0.0.1/tcp/0`; `/ip4/0.0.0.0/tcp/PORT` to be reachable from other hosts).
    /// `identity_path`: the peer's key file, created if missing (default: a new identity).
    /// `client_mode=True`: listen on nothing (a peer behind NAT); its trackers are clients.
    /// A private collaboration adds `network_key_path`, `token_path` and `authority`
    /// (README, "A private collaboration").
    #[new]
    #[pyo3(signature = (
        initial_peers=None, host_maddrs=None, identity_path=None, client_mode=false, start=true,
        *, network_key_path=None, token_path=None, authority=None, revoked_peers=None,
        request_timeout=10.0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        initial_peers: Option<&Bound<'_, PyAny>>,
        host_maddrs: Option<&Bound<'_, PyAny>>,
        identity_path: Option<PathBuf>,
        client_mode: bool,
        start: bool,
        network_key_path: Option<PathBuf>,
        token_path: Option<PathBuf>,
        authority: Option<String>,
        revoked_peers: Option<Vec<String>>,
        request_timeout: f64,
    ) -> PyResult<Self> {
        let mut settings = Settings::load_with_env(None, Some(Default::default()))
            .map_err(|e| settings_error(&e))?;
        settings.dht.bootstrap = multiaddr_strings("initial_peers", initial_peers)?;
        let listen = multiaddr_strings("host_maddrs", host_maddrs)?;
        settings.dht.listen = if listen.is_empty() {
            if host_maddrs.is_some() && !client_mode {
                return Err(bad_argument(
                    "host_maddrs",
                    "needs at least one address (or client_mode=True to listen on none)",
                ));
            }
            vec![DEFAULT_HOST_MADDRS.to_owned()]
        } else {
            listen
        };
        settings.dht.key_file = path_string(identity_path);
        settings.dht.network_key_file = path_string(network_key_path);
        settings.dht.token_file = path_string(token_path);
        settings.dht.request_timeout = request_timeout;
        settings.tracker.authority = authority.unwrap_or_default();
        settings.tracker.revoked_peers = revoked_peers.unwrap_or_default();
        settings.validate().map_err(|e| settings_error(&e))?;
        let mut config = settings.node_config().map_err(|e| settings_error(&e))?;
        if client_mode {
            config.listen.clear();
        }
        let identity = match settings.dht.key_file() {
            Some(path) => Identity::load_or_create(path),
            None => Identity::generate(),
        }
        .map_err(|e| bad_argument("identity_path", e))?;
        let dht = Self {
            identity: Arc::new(identity),
            config,
            authority: settings.tracker.authority,
            revoked_peers: settings.tracker.revoked_peers,
            node: Arc::default(),
        };
        if start {
            dht.run_in_background(py, true, None)?;
        }
        Ok(dht)
    }

    /// Starts the node (if it is not running). Returns once it listens; with
    /// `await_ready=True` also waits (at most `timeout` seconds, default the request timeout)
    /// until it is connected to one of `initial_peers`, if any were given.
    #[pyo3(signature = (await_ready=true, timeout=None))]
    fn run_in_background(
        &self,
        py: Python<'_>,
        await_ready: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        if self.running_node().is_some() {
            return Ok(());
        }
        let wait = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => Duration::from_secs_f64(t),
            Some(t) => return Err(bad_argument("timeout", format!("must be >= 0, got {t}"))),
            None => self.config.request_timeout,
        };
        let node = py
            .detach(|| {
                NodeHandle::start(&self.identity, self.config.clone(), SystemClock::shared())
            })
            .map_err(|e| SwarmProgressError::new_err(format!("could not start the DHT: {e}")))?;
        if !self.config.listen.is_empty() {
            // Addresses are reported by the node's event loop shortly after it starts.
            let wait = self.config.request_timeout;
            py.detach(|| {
                wait_for(
                    &node,
                    wait,
                    |info| !info.listen_addrs.is_empty(),
                    || SwarmProgressError::new_err("the DHT listens on no address"),
                )
            })?;
        }
        *lock(&self.node) = Some(node.clone());
        exit::track_node(&self.node);
        if await_ready && !self.config.bootstrap.is_empty() {
            py.detach(|| {
                wait_for(
                    &node,
                    wait,
                    |info| info.connected_peers > 0,
                    || {
                        PyTimeoutError::new_err(format!(
                            "the DHT did not reach any of initial_peers within {:.1} s",
                            wait.as_secs_f64()
                        ))
                    },
                )
            })?;
        }
        Ok(())
    }

    /// Whether the node is running.
    fn is_alive(&self) -> bool {
        self.running_node().is_some()
    }

    /// This peer's id (`12D3KooW…`).
    #[getter]
    fn peer_id(&self) -> String {
        self.identity.peer_id()
    }

    /// Whether the node listens on no address.
    #[getter]
    fn client_mode(&self) -> bool {
        self.config.listen.is_empty()
    }

    /// The addresses other peers can reach this node at, each with `/p2p/<peer id>`: what
    /// they pass as `initial_peers`. Empty for a client.
    #[pyo3(signature = (latest=false))]
    fn get_visible_maddrs(&self, py: Python<'_>, latest: bool) -> PyResult<Vec<String>> {
        let _ = latest; // always current: the node is asked each time
        let node = self
            .running_node()
            .ok_or_else(|| SwarmProgressError::new_err("the DHT is not running"))?;
        let wait = self.config.request_timeout;
        let info = py.detach(|| ask(&node, wait))?;
        Ok(info.listen_addrs.iter().map(|a| a.to_string()).collect())
    }

    /// Peers this node has a connection with.
    #[getter]
    fn connected_peers(&self, py: Python<'_>) -> PyResult<usize> {
        let Some(node) = self.running_node() else {
            return Ok(0);
        };
        let wait = self.config.request_timeout;
        let info = py.detach(|| ask(&node, wait))?;
        Ok(info.connected_peers)
    }

    /// Stops the node (trackers on it can no longer reach the swarm: shut them down first).
    /// Waits until it has stopped, at most a second.
    fn shutdown(&self, py: Python<'_>) {
        let node = lock(&self.node).take();
        if let Some(node) = node {
            py.detach(|| stop_node(&node));
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.shutdown(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "DHT(peer_id={:?}, alive={})",
            self.identity.peer_id(),
            if self.running_node().is_some() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// Stops `node` and waits (at most a second) until its event loop has ended.
pub(crate) fn stop_node(node: &NodeHandle) {
    node.stop();
    let deadline = Instant::now() + Duration::from_secs(1);
    while node.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asks `node` about itself; a node too busy to answer within `wait` is a `TimeoutError`, so no
/// call hangs (this thread has no async runtime: the reply is polled every millisecond).
fn ask(node: &NodeHandle, wait: Duration) -> PyResult<NodeInfo> {
    let deadline = Instant::now() + wait;
    let mut reply = std::pin::pin!(node.info());
    let mut context = std::task::Context::from_waker(futures::task::noop_waker_ref());
    loop {
        if let std::task::Poll::Ready(info) = reply.as_mut().poll(&mut context) {
            return info.map_err(|e| SwarmProgressError::new_err(format!("the DHT: {e}")));
        }
        if Instant::now() >= deadline {
            return Err(PyTimeoutError::new_err(format!(
                "the DHT did not answer within {:.1} s",
                wait.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Asks `node` about itself every few milliseconds until `ready` says yes; after `wait`, the
/// error `timed_out` makes.
fn wait_for(
    node: &NodeHandle,
    wait: Duration,
    ready: impl Fn(&NodeInfo) -> bool,
    timed_out: impl FnOnce() -> PyErr,
) -> PyResult<()> {
    let deadline = Instant::now() + wait;
    loop {
        let info = ask(node, wait)?;
        if ready(&info) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(timed_out());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
