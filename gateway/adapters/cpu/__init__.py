"""The CPU stages of declaration messages (ITMATT) on worker processes, so every core works
(issue 6).

Three modules:
- `runner`: the main-process side. `WorkerProcessCpu`, the gateway's CpuRunner
  (gateway.services.itmatt_intake), hands each message to a `WorkerPool`
  (gateway.adapters.worker_pool: the
  generic pool of worker processes, which knows nothing of messages) and replaces the pool when
  a worker dies or hangs.
- `worker`: what runs in each worker process (the tasks, the per-process state).
- `codec`: what crosses between them: a message's CpuResult as plain values, and a large
  message's spool files (its body, its sealed entries, its result) and record id table.

One task per message: the body, the partner's operator code, the provenance, the name of its
format (`gateway.formats.registry`) and the gateway's active signing key go to a worker; a
`CpuResult` (the parsed message, its sealed and signed journal entries, stage times, share-cell
contributions) comes back; both ways as plain values, not pickled classes (the result
marshalled by `codec.encode`). Each worker process prepares once what every message needs (each
registered format's compiled schema, the valuer and its rates) and keeps a signer per key id.

Key rotation: each task names the key the main process signs with now (`key()` is read per
task), with its private key in PEM; a worker that does not know that key id yet loads it, so
after SIGHUP the next message is signed with the new key, by any worker. The PEM crosses only a
pipe to a child process of the same user, which could read the key folder itself.

Large bodies (from `spool_bytes`, `[cpu] stream_bytes`) go to the worker as a file instead,
spooled by the edge as they arrived (or written here): the worker parses them as a stream and
leaves its records in a file beside the body, which the store reads as it commits
(`worker.run_spooled`, `codec.SpooledSealed`); neither process ever holds the document or all
its records.

The workers are a `WorkerPool`, driven by the event loop through one socket pair per worker,
with no feeder or manager thread. Small messages (below `inline_bytes`) may run in the serving
process instead.

A worker that dies (killed, out of memory) breaks the whole pool: every message in flight on it
gets Overloaded (503 + Retry-After; nothing was journaled, so no receipted item is lost) and the
next message gets a fresh pool. A message whose CPU stages have not finished `task_timeout_s`
after it was handed over (queueing included: keep it far above the slowest document's time)
is taken to have hung its worker: the pool's workers are killed, which is the same case.
"""
