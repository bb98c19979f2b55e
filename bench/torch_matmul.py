# PyTorch (CPU) GFLOP/s for the shapes of bench/matmul.ts, at 1 and 2 threads, as JSON on stdout:
# {"torch": "<version>", "results": [{"name", "threads", "transB", "gflops"}]}.
# Usage: /usr/bin/python3 bench/torch_matmul.py '<json list of [name, M, N, K]>'
import json
import sys
import time

import torch

shapes = json.loads(sys.argv[1])
results = []
for threads in (1, 2):
    torch.set_num_threads(threads)
    for name, M, N, K in shapes:
        for trans_b in (True, False):
            g = torch.Generator().manual_seed(0)
            a = torch.rand(M, K, generator=g) - 0.5
            b = (torch.rand(N, K, generator=g) - 0.5) if trans_b else (torch.rand(K, N, generator=g) - 0.5)
            c = torch.empty(M, N)

            def run():
                torch.matmul(a, b.t() if trans_b else b, out=c)

            run()
            # The fastest of several repetitions, as bench/matmul.ts does.
            reps, best, t0 = 0, float("inf"), time.perf_counter()
            while time.perf_counter() - t0 < 0.4 or reps < 3:
                t = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t)
                reps += 1
            results.append({"name": name, "threads": threads, "transB": trans_b,
                            "gflops": 2 * M * N * K / best / 1e9})
print(json.dumps({"torch": torch.__version__, "results": results}))
