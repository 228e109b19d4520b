//! Module graphs prepared once and copied into the instances that run them.
//!
//! Reading a graph's bytecode and instantiating it (binding its imports, making its
//! function declarations) is most of what a handler importing many cached modules costs
//! the guest: about five sixths of a run of a graph of 21 small modules. None of it
//! depends on the execution, and none of it runs the graph's code. So the second time
//! an execution runs a graph (its modules all in the cache), its fresh instance prepares
//! the graph (`engine.prepare-graph`) before any of the graph's code runs, and the bytes
//! of linear memory that the preparation changed are kept, in 64-byte lines: the graph's
//! *image*. Every later execution of the same graph has its fresh instance's memory given
//! those lines (`Instance::apply_image`) and only evaluates the graph
//! (`engine.run-prepared`).
//!
//! - **Why it is sound**: every fresh instance starts from the same memory (the
//!   snapshot, then the same `locate-memory` call), so the state a preparation leaves is
//!   the same in each, and it lies wholly in linear memory. The guest's core module has
//!   one memory, a table that cannot grow, and one mutable global, its stack pointer,
//!   which is back where it was when a guest call returns (a test reads the committed
//!   guest's sections to keep this true). The pages are written into a fresh instance
//!   before anything runs in it.
//! - **What makes two graphs the same**: every module's bytecode byte for byte (it
//!   carries the module's resolved name and all its code), every JSON module's name and
//!   text, and every link. The service's loader is asked for every import of every
//!   execution as before, so a tenant whose registry changed, or another tenant whose
//!   registry differs, never gets an image that is not of its own graph; two tenants whose
//!   graphs are identical share one, which is what either would have made.
//! - **Security**: an image is made by an instance that has run no tenant code (a fresh
//!   one, that read bytecode the cache holds, produced by compile-only instances, and
//!   instantiated it), before the execution that made it runs any; nothing an execution
//!   does afterwards reaches it.
//! - **What an execution is charged**: the fuel the preparation used counts as its own
//!   (it is what it would have used to read and instantiate the graph itself), so budgets
//!   and `fuel_used` stay what they were. One whose fuel or memory limit the image does not
//!   fit runs unprepared.
//! - **Bounds**: images, and the graphs seen once, are kept within
//!   [`Config::graph_image_bytes`]; the least recently run go first. Deterministic
//!   executions and those that had to compile a module run unprepared (so a deterministic
//!   execution's fuel depends on nothing but its input).
//!
//! [`Config::graph_image_bytes`]: crate::Config::graph_image_bytes

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};

use jsruntime_wasm::bindings::jsruntime::sandbox::modules as wit_modules;

/// One module of a linked static import graph.
#[derive(Debug, Clone)]
pub(crate) struct GraphModule {
    pub(crate) body: GraphBody,
    /// For each of the module's imports, in order, the index of its module in the graph.
    pub(crate) links: Vec<u32>,
}

/// What a module of a graph is made of.
#[derive(Debug, Clone)]
pub(crate) enum GraphBody {
    /// Bytecode from the cache (it carries the module's resolved name).
    Bytecode(Arc<[u8]>),
    /// A JSON module: its resolved name and text.
    Json { name: String, text: Arc<str> },
}

/// The static import graph of one execution's entry module: the entry first, then each
/// module in the order it was first imported, each import linked by position.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    /// The entry's resolved name.
    pub(crate) entry: Arc<str>,
    pub(crate) modules: Vec<GraphModule>,
}

impl Graph {
    /// Whether `other` is this graph: the same modules, byte for byte, linked the same.
    pub(crate) fn same_as(&self, other: &Graph) -> bool {
        self.entry == other.entry
            && self.modules.len() == other.modules.len()
            && self
                .modules
                .iter()
                .zip(&other.modules)
                .all(|(a, b)| a.links == b.links && same_body(&a.body, &b.body))
    }

    /// The graph as the guest takes it.
    pub(crate) fn to_wit(&self) -> Vec<wit_modules::GraphModule> {
        self.modules
            .iter()
            .map(|module| wit_modules::GraphModule {
                body: match &module.body {
                    GraphBody::Bytecode(bytecode) => {
                        wit_modules::GraphBody::Bytecode(bytecode.to_vec())
                    }
                    GraphBody::Json { name, text } => {
                        wit_modules::GraphBody::Json(wit_modules::JsonModule {
                            name: name.clone(),
                            text: text.to_string(),
                        })
                    }
                },
                links: module.links.clone(),
            })
            .collect()
    }
}

fn same_body(a: &GraphBody, b: &GraphBody) -> bool {
    match (a, b) {
        // Usually the very same bytes, from the same cache entry: compared by address
        // first, then by content (an address alone could be a freed entry's reused).
        (GraphBody::Bytecode(a), GraphBody::Bytecode(b)) => Arc::ptr_eq(a, b) || a[..] == b[..],
        (
            GraphBody::Json { name, text },
            GraphBody::Json {
                name: other_name,
                text: other_text,
            },
        ) => name == other_name && (Arc::ptr_eq(text, other_text) || text == other_text),
        _ => false,
    }
}

/// The bytes of linear memory a graph's preparation changed in a fresh instance.
#[derive(Debug)]
pub(crate) struct GraphImage {
    /// The memory's size after the preparation.
    memory_bytes: usize,
    /// Runs of changed granules: guest address, contents.
    runs: Vec<(usize, Box<[u8]>)>,
    /// Fuel the preparation used.
    fuel_used: u64,
}

/// The unit the image compares pages in: a host page, which a wasm page is a whole
/// number of. An unchanged page is skipped with one comparison.
const PAGE_BYTES: usize = 4096;

/// The unit the image keeps and copies within a changed page: a cache line. Every
/// execution from the image copies it into its instance, so what it holds is paid at
/// every one: a one-module handler's preparation changes 16 pages but only ~3.7 KiB of
/// them in 64-byte lines (a few words here and there: refcounts, list links, table
/// entries), and copying whole pages copied 64 KiB (bench/FINDINGS.md, "images in
/// lines"). Smaller units find fewer bytes but more runs, each a call of its own.
const GRANULE_BYTES: usize = 64;

impl GraphImage {
    /// The image of a preparation that turned `fresh` (a fresh instance's memory) into
    /// `prepared`, using `fuel_used`. Memory past the end of `fresh` counts as zeros, as a
    /// newly grown page is.
    pub(crate) fn capture(fresh: &[u8], prepared: &[u8], fuel_used: u64) -> GraphImage {
        /// Whether `now` differs from `fresh` at `offset` (zeros past its end).
        fn changed(fresh: &[u8], offset: usize, now: &[u8]) -> bool {
            match fresh.get(offset..offset + now.len()) {
                Some(before) => before != now,
                None => {
                    let before = fresh.get(offset..).unwrap_or_default();
                    now[..before.len()] != *before || now[before.len()..].iter().any(|&b| b != 0)
                }
            }
        }
        let mut runs: Vec<(usize, Box<[u8]>)> = Vec::new();
        // The run of changed granules being gathered: its start and end.
        let mut run: Option<(usize, usize)> = None;
        let mut close = |run: &mut Option<(usize, usize)>| {
            if let Some((start, stop)) = run.take() {
                runs.push((start, prepared[start..stop].into()));
            }
        };
        let mut page = 0;
        while page < prepared.len() {
            let page_end = (page + PAGE_BYTES).min(prepared.len());
            if !changed(fresh, page, &prepared[page..page_end]) {
                close(&mut run);
                page = page_end;
                continue;
            }
            let mut offset = page;
            while offset < page_end {
                let end = (offset + GRANULE_BYTES).min(page_end);
                if changed(fresh, offset, &prepared[offset..end]) {
                    run = Some((run.map_or(offset, |(start, _)| start), end));
                } else {
                    close(&mut run);
                }
                offset = end;
            }
            page = page_end;
        }
        close(&mut run);
        GraphImage {
            memory_bytes: prepared.len(),
            runs,
            fuel_used,
        }
    }

    /// The memory's size after the preparation.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// The runs of changed bytes (whole granules): guest address and contents.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.runs
            .iter()
            .map(|(offset, bytes)| (*offset, &bytes[..]))
    }

    /// Fuel the preparation used.
    pub(crate) fn fuel_used(&self) -> u64 {
        self.fuel_used
    }

    /// What it holds, in bytes.
    fn weight(&self) -> usize {
        self.runs.iter().map(|(_, bytes)| bytes.len()).sum()
    }
}

/// What [`GraphImages::lookup`] knows of a graph: how to run it.
pub(crate) enum Known {
    /// From its image.
    Image(Arc<GraphImage>),
    /// It ran before, without an image yet: prepare it and offer its image
    /// ([`GraphImages::insert`]).
    Prepare,
    /// Unprepared: it is new (it is remembered now), or its image was not worth keeping.
    Plain,
}

/// An image is kept only if its preparation used at least this much fuel per byte of it:
/// copying a byte in costs about what a unit of fuel does (0.1 ns each on the 2-vCPU
/// EPYC of BENCHMARKS.md, from the 1 KiB handler, 14,603 fuel and 96 KiB of pages, which
/// ran 8-10 µs slower from its image, and the graph of 21 modules, 382,308 fuel and
/// 156 KiB, 20-25 µs faster). A small graph changes about as many pages as a large one
/// (allocator and garbage collector lists, the stacks), so only a large one gains.
const MIN_FUEL_PER_IMAGE_BYTE: u64 = 2;

/// The images of the module graphs run most recently, and the graphs run once.
pub(crate) struct GraphImages {
    table: Mutex<Table>,
    max_bytes: usize,
}

#[derive(Default)]
struct Table {
    /// By [`bucket`]; the graphs in a bucket are told apart by [`Graph::same_as`].
    entries: HashMap<u64, Vec<Entry>>,
    /// What the entries weigh.
    bytes: usize,
    /// Counts lookups: an entry's `last_run` is the count at its last one.
    clock: u64,
}

impl Table {
    /// The entry of `graph`, whose [`bucket`] is `bucket`.
    fn find(&mut self, bucket: u64, graph: &Graph) -> Option<&mut Entry> {
        self.entries
            .get_mut(&bucket)?
            .iter_mut()
            .find(|entry| entry.graph.same_as(graph))
    }
}

struct Entry {
    graph: Graph,
    image: Option<Arc<GraphImage>>,
    /// Its image was offered and not worth keeping: it runs unprepared.
    plain: bool,
    last_run: u64,
}

impl Entry {
    fn weight(&self) -> usize {
        graph_weight(&self.graph) + self.image.as_ref().map_or(0, |image| image.weight())
    }
}

/// What a graph holds, in bytes (its bytecode is shared with the cache, but an entry
/// keeps it alive after the cache lets it go).
fn graph_weight(graph: &Graph) -> usize {
    graph
        .modules
        .iter()
        .map(|module| {
            let body = match &module.body {
                GraphBody::Bytecode(bytecode) => bytecode.len(),
                GraphBody::Json { name, text } => name.len() + text.len(),
            };
            body + 4 * module.links.len()
        })
        .sum::<usize>()
        + graph.entry.len()
}

/// A hash of what can be read of a graph without reading its bytes: equal graphs have
/// equal buckets; different ones usually differ.
fn bucket(graph: &Graph) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    graph.entry.hash(&mut hasher);
    for module in &graph.modules {
        module.links.hash(&mut hasher);
        match &module.body {
            GraphBody::Bytecode(bytecode) => bytecode.len().hash(&mut hasher),
            GraphBody::Json { name, text } => {
                name.hash(&mut hasher);
                text.len().hash(&mut hasher);
            }
        }
    }
    hasher.finish()
}

impl GraphImages {
    /// Images and graphs within `max_bytes`; 0 keeps none (every graph runs unprepared).
    pub(crate) fn new(max_bytes: u64) -> GraphImages {
        GraphImages {
            table: Mutex::new(Table::default()),
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        }
    }

    /// Whether any image can be kept.
    pub(crate) fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// What is known of `graph`; marks it as run now, and remembers it if it is new.
    pub(crate) fn lookup(&self, graph: &Graph) -> Known {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.clock += 1;
        let clock = table.clock;
        let bucket = bucket(graph);
        if let Some(entry) = table.find(bucket, graph) {
            entry.last_run = clock;
            return match &entry.image {
                Some(image) => Known::Image(Arc::clone(image)),
                None if entry.plain => Known::Plain,
                None => Known::Prepare,
            };
        }
        let entry = Entry {
            graph: graph.clone(),
            image: None,
            plain: false,
            last_run: clock,
        };
        table.bytes += entry.weight();
        table.entries.entry(bucket).or_default().push(entry);
        self.evict(&mut table);
        Known::Plain
    }

    /// Keeps `image` as the image of `graph` (if `graph` is still remembered), or
    /// remembers that `graph` runs unprepared if the image is not worth keeping (see
    /// [`MIN_FUEL_PER_IMAGE_BYTE`]).
    pub(crate) fn insert(&self, graph: &Graph, image: GraphImage) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let weight = image.weight();
        let Some(entry) = table.find(bucket(graph), graph) else {
            return;
        };
        if entry.image.is_some() {
            return;
        }
        if image.fuel_used < (weight as u64).saturating_mul(MIN_FUEL_PER_IMAGE_BYTE) {
            entry.plain = true;
            return;
        }
        entry.image = Some(Arc::new(image));
        table.bytes += weight;
        self.evict(&mut table);
    }

    /// Forgets the least recently run entries until the table is within its bytes.
    fn evict(&self, table: &mut Table) {
        while table.bytes > self.max_bytes {
            let oldest = table
                .entries
                .iter()
                .flat_map(|(bucket, entries)| {
                    entries
                        .iter()
                        .enumerate()
                        .map(move |(i, e)| (e.last_run, *bucket, i))
                })
                .min();
            let Some((_, bucket, i)) = oldest else {
                table.bytes = 0;
                return;
            };
            if let Some(entries) = table.entries.get_mut(&bucket) {
                let entry = entries.swap_remove(i);
                table.bytes = table.bytes.saturating_sub(entry.weight());
                if entries.is_empty() {
                    table.entries.remove(&bucket);
                }
            }
        }
    }

    /// Graphs remembered and images kept.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let graphs = table.entries.values().map(Vec::len).sum();
        let images = table
            .entries
            .values()
            .flatten()
            .filter(|e| e.image.is_some())
            .count();
        (graphs, images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(entry: &str, bytes: &[&[u8]]) -> Graph {
        Graph {
            entry: Arc::from(entry),
            modules: bytes
                .iter()
                .enumerate()
                .map(|(i, b)| GraphModule {
                    body: GraphBody::Bytecode(Arc::from(*b)),
                    links: if i == 0 {
                        (1..bytes.len() as u32).collect()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn the_guest_keeps_all_its_state_in_its_one_linear_memory() {
        // An image is the memory alone: anything else a preparation could change (another
        // memory, a mutable global besides the stack pointer, a table that grows) would
        // not be carried into the instances that start from it.
        use wasmparser::{Parser, Payload, TypeRef};
        let (mut memories, mut mutable_globals, mut growable_tables) = (0, 0, 0);
        for payload in Parser::new(0).parse_all(crate::guest::guest_component()) {
            match payload.expect("the committed guest parses") {
                Payload::MemorySection(section) => memories += section.count(),
                Payload::GlobalSection(section) => {
                    for global in section {
                        mutable_globals += u32::from(global.expect("a global").ty.mutable);
                    }
                }
                Payload::TableSection(section) => {
                    for table in section {
                        let ty = table.expect("a table").ty;
                        growable_tables += u32::from(ty.maximum != Some(ty.initial));
                    }
                }
                Payload::ImportSection(section) => {
                    for import in section.into_imports() {
                        match import.expect("an import").ty {
                            TypeRef::Memory(_) => memories += 1,
                            TypeRef::Global(global) => mutable_globals += u32::from(global.mutable),
                            TypeRef::Table(ty) => {
                                growable_tables += u32::from(ty.maximum != Some(ty.initial))
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        assert_eq!((memories, mutable_globals, growable_tables), (1, 1, 0));
    }

    #[test]
    fn graphs_are_the_same_only_byte_for_byte_and_link_for_link() {
        let a = graph("main.js", &[b"main", b"lib"]);
        assert!(a.same_as(&graph("main.js", &[b"main", b"lib"])));
        assert!(!a.same_as(&graph("main.js", &[b"main", b"lid"])));
        assert!(!a.same_as(&graph("other.js", &[b"main", b"lib"])));
        assert!(!a.same_as(&graph("main.js", &[b"main"])));
        let mut relinked = a.clone();
        relinked.modules[0].links = vec![0];
        assert!(!a.same_as(&relinked));
        let mut json = a.clone();
        json.modules[1].body = GraphBody::Json {
            name: "lib".into(),
            text: Arc::from("{}"),
        };
        assert!(!a.same_as(&json));
    }

    #[test]
    fn an_image_holds_the_changed_lines_and_what_grew() {
        let fresh = vec![7u8; 5 * PAGE_BYTES];
        let mut prepared = fresh.clone();
        prepared[PAGE_BYTES + 3] = 1; // page 1, its first line
        prepared[2 * PAGE_BYTES - 1] = 1; // page 1's last line and page 2's first: one run
        prepared[2 * PAGE_BYTES] = 1;
        prepared[4 * PAGE_BYTES + GRANULE_BYTES + 9] = 1; // page 4, its second line
        prepared.extend(vec![0u8; PAGE_BYTES]); // grown, still zeros: unchanged
        prepared.extend(vec![5u8; PAGE_BYTES]); // grown and written
        let image = GraphImage::capture(&fresh, &prepared, 42);
        let runs: Vec<(usize, usize)> = image.runs().map(|(at, b)| (at, b.len())).collect();
        assert_eq!(
            runs,
            vec![
                (PAGE_BYTES, GRANULE_BYTES),
                (2 * PAGE_BYTES - GRANULE_BYTES, 2 * GRANULE_BYTES),
                (4 * PAGE_BYTES + GRANULE_BYTES, GRANULE_BYTES),
                (6 * PAGE_BYTES, PAGE_BYTES)
            ]
        );
        assert_eq!(image.memory_bytes(), 7 * PAGE_BYTES);
        assert_eq!(image.fuel_used(), 42);
        assert_eq!(image.weight(), PAGE_BYTES + 4 * GRANULE_BYTES);
        // Applied to the fresh memory, the image gives the prepared one.
        let mut applied = fresh.clone();
        applied.resize(prepared.len(), 0);
        for (at, bytes) in image.runs() {
            applied[at..at + bytes.len()].copy_from_slice(bytes);
        }
        assert_eq!(applied, prepared);
        assert_eq!(GraphImage::capture(&fresh, &fresh, 0).runs().count(), 0);
    }

    #[test]
    fn a_graph_gets_its_image_the_second_time_and_the_oldest_make_way() {
        let image = || GraphImage::capture(&[0; PAGE_BYTES], &[1; PAGE_BYTES], 10_000);
        let images = GraphImages::new(3 * PAGE_BYTES as u64);
        let a = graph("a.js", &[b"a"]);
        assert!(matches!(images.lookup(&a), Known::Plain));
        assert!(matches!(images.lookup(&a), Known::Prepare));
        images.insert(&a, image());
        assert!(matches!(images.lookup(&a), Known::Image(_)));
        let b = graph("b.js", &[b"b"]);
        assert!(matches!(images.lookup(&b), Known::Plain));
        images.insert(&b, image());
        let c = graph("c.js", &[b"c"]);
        images.lookup(&c);
        images.insert(&c, image());
        // Three pages and three graphs are more than three pages: `a`, run least
        // recently, went.
        assert_eq!(images.counts(), (2, 2));
        assert!(matches!(images.lookup(&a), Known::Plain));
        assert!(matches!(images.lookup(&c), Known::Image(_)));

        // An image that saves less than it costs is not kept, and not asked for again.
        let d = graph("d.js", &[b"d"]);
        images.lookup(&d);
        assert!(matches!(images.lookup(&d), Known::Prepare));
        images.insert(
            &d,
            GraphImage::capture(&[0; PAGE_BYTES], &[1; PAGE_BYTES], 100),
        );
        assert!(matches!(images.lookup(&d), Known::Plain));

        let none = GraphImages::new(0);
        assert!(!none.enabled());
        assert!(matches!(none.lookup(&a), Known::Plain));
        assert_eq!(none.counts(), (0, 0));
    }
}
