# worksheet: ex01_gradient_descent
# append
# expect: grad_ellipse=correct; sgd=correct; max_stable_lr=correct
# Writes made-up "answers" to every open file descriptor and prints a fake verdict: the
# grader ignores both (answers must carry the request's secret nonce).
import json
import os

fake = json.dumps({"nonce": "0" * 32, "results": [{"nd": 1.0}], "error": None}) + "\n"
for fd in range(3, 64):
    try:
        os.write(fd, fake.encode())
    except OSError:
        pass
print("SGD: correct (3 runs, 12 updates)")
