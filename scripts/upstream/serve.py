#!/usr/bin/env python3
"""Serve a GGUF model over llama.cpp's own OpenAI-compatible HTTP server.

The server is the C++ llama-server code, prebuilt inside the `xllamacpp` wheel
(CPU, no compiler needed). This wrapper only sets its parameters, starts it and
waits for SIGTERM/SIGINT. start.sh runs it (with the venv install.sh made);
run it by hand with --help.
"""
import argparse
import os
import signal
import sys
import threading

import xllamacpp as xlc


def env_int(name, default):
    return int(os.environ.get(name, default))


ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--model", required=True, help="path to the .gguf file")
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=8090)
ap.add_argument("--alias", default=os.environ.get("KEEL_UPSTREAM_ALIAS", "smollm2-135m-instruct"),
                help="model id reported by /v1/models and in responses")
ap.add_argument("--threads", type=int, default=env_int("KEEL_UPSTREAM_THREADS", 1),
                help="CPU threads; 1 stays steady when other work shares the 2 cores")
ap.add_argument("--ctx", type=int, default=env_int("KEEL_UPSTREAM_CTX", 8192),
                help="total KV cache in tokens, split evenly over the parallel slots")
ap.add_argument("--parallel", type=int, default=env_int("KEEL_UPSTREAM_PARALLEL", 2),
                help="requests decoded concurrently (continuous batching)")
ap.add_argument("--embeddings", action="store_true",
                default=os.environ.get("KEEL_UPSTREAM_EMBEDDINGS", "0") == "1",
                help="also serve /v1/embeddings (mean pooling)")
a = ap.parse_args()

p = xlc.CommonParams()
p.model.path = a.model
p.hostnames = [a.host]
p.port = a.port
p.model_alias = {a.alias}
p.n_ctx = a.ctx
p.n_parallel = a.parallel
p.cpuparams.n_threads = a.threads
p.cpuparams_batch.n_threads = a.threads
p.ui = False          # no web UI
p.offline = True      # never try to download anything
p.embedding = a.embeddings
if a.embeddings:
    p.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN

stop = threading.Event()
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda *_: stop.set())

server = xlc.Server(p)  # loads the model, then starts the HTTP listener
print(f"keel-upstream: listening on {server.listening_address} (pid {os.getpid()})", flush=True)
stop.wait()
print("keel-upstream: stopping", flush=True)
sys.stdout.flush()
os._exit(0)  # skip interpreter teardown of the native server threads
