"""An example application on the genaiops runtime client: a support desk that answers customer questions
with the published `support-answer` prompt and routes tickets with `ticket-triage`, while every request
feeds Cloud Monitoring (batched custom metrics) and a user's rating lands in the feedback store.

`genaiops demo` runs it against its local emulator; pointed at a project instead (no --emulator), the same
code talks to Vertex AI, Cloud Monitoring and Firestore. Copy what you need:

    python manifests/apps/support_app.py --emulator 127.0.0.1:PORT --genai-url http://127.0.0.1:REST \\
        --prompt-store .genaiops/local/prompt-store --requests 200

What it does: `--requests` calls from a few threads (three in four answer a question, one in four triages a
ticket: triage is deterministic, temperature 0, so repeated tickets are answered from the response cache),
one rating of an answer, then it closes the metrics recorder, which writes everything still in memory.

`Users` simulates signed-in customers for a while (the demo runs it during a prompt canary): each asks
`support-answer` (on both of its labels in turn) with their user id as the routing key, so a canary gives each customer one version, and
rates the answer (5 when it carries the help-centre article's advice, 2 when it does not), so the feedback
score tells versions apart.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from controller.errors import GenaiopsError
from controller.prompts.client import PromptClient
from controller.providers.prompt_store import open_store
from controller.providers.runtime_models import vertex_models
from controller.providers.runtime_stores import cloud_monitoring_recorder, open_feedback_store
from controller.runtime import GenAIClient, Outcome, Result
from controller.runtime.feedback import FeedbackRecorder

QUESTIONS = [
    ("Ada", "How do I reset my password?", "Reset your password", "Use the Forgot password link."),
    ("Bo", "Can I get a refund after 20 days?", "Refunds", "Refunds are available within 30 days of purchase."),
    ("Cy", "Where can I download my invoice?", "Invoices", "Invoices are under Billing > History."),
    ("Di", "How do I add a team member?", "Teams", "Admins invite members from Settings > Team."),
]
TICKETS = [
    ("Charged twice", "I was billed two times this month."),
    ("Cannot log in", "The sign-in page keeps reloading."),
    ("Close my account", "Please delete my account and data."),
]
QUEUES = ["billing", "technical", "account"]


def ask(client: GenAIClient, i: int) -> Result | Exception:
    """Request `i`: a question, or (every fourth) a ticket to triage. Errors are returned, not raised."""
    try:
        if i % 4 == 3:
            subject, body = TICKETS[(i // 4) % len(TICKETS)]
            return client.generate(
                "ticket-triage", {"subject": subject, "body": body, "queues": QUEUES}, label="staging"
            )
        name, question, title, article = QUESTIONS[i % len(QUESTIONS)]
        variables = {
            "customer_name": name,
            "question": f"{question} (ticket {i})",
            "articles": [{"title": title, "body": article}],
        }
        return client.generate("support-answer", variables, label="production")
    except GenaiopsError as err:  # the model failed: the app shows an apology; the client recorded it
        return err


class Users:
    """Simulated customers asking questions until stopped: user `u<n>` (the routing key) asks, reads the
    answer and rates it. Runs on its own threads; `stop` returns how many requests each version served."""

    def __init__(self, client: GenAIClient, feedback: FeedbackRecorder, *, users: int = 400, threads: int = 4) -> None:
        self.client, self.feedback, self.users, self.threads = client, feedback, users, threads
        self.served: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def start(self) -> Users:
        """Start asking."""
        for worker in self._workers:
            worker.start()
        return self

    def _run(self, worker: int) -> None:
        turn = worker
        while not self._stop.is_set():
            user = f"u{turn % self.users}"
            name, question, title, article = QUESTIONS[turn % len(QUESTIONS)]
            variables = {
                "customer_name": f"{name}-{user}",
                "question": question,
                "articles": [{"title": title, "body": article}],
            }
            turn += self.threads
            try:
                label = ("production", "staging")[turn // self.threads % 2]  # both labels roll out alike
                result = self.client.generate("support-answer", variables, label=label, routing_key=user)
            except GenaiopsError:
                continue
            with self._lock:
                self.served[result.version] += 1
            if not result.blocked and result.outcome is not Outcome.CACHE_HIT:
                rating = 5 if article in result.text else 2
                self.feedback.record_feedback(result.request_id, rating)
            self._stop.wait(0.01)

    def stop(self) -> Counter[str]:
        """Stop asking; requests served per version."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        return self.served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--project", default="local-project")
    parser.add_argument("--location", default="us-central1")
    parser.add_argument("--emulator", help="HOST:PORT of a genaiops emulator (gRPC); omit for Google Cloud")
    parser.add_argument("--genai-url", help="http://HOST:PORT of the emulator's REST API (google-genai)")
    parser.add_argument("--prompt-store", required=True, help="gs://BUCKET/PREFIX or a directory")
    parser.add_argument("--feedback-db", type=Path, help="local SQLite feedback file (default without a project)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)

    prompts = PromptClient(open_store(args.prompt_store, retry_deadline_s=2), project=args.project)
    models = vertex_models(
        project=args.project, location=args.location, grpc_target=args.emulator, genai_base_url=args.genai_url
    )
    metrics = cloud_monitoring_recorder(project=args.project, emulator=args.emulator)
    feedback = FeedbackRecorder(
        open_feedback_store(project=None if args.emulator else args.project, path=args.feedback_db)
    )
    # No retries here, so that the emulator's injected errors show up in the report.
    client = GenAIClient(prompts, models, recorder=feedback.tee(metrics), max_attempts=1, project=args.project)
    with ThreadPoolExecutor(args.threads) as pool:
        results = list(pool.map(lambda i: ask(client, i), range(args.requests)))
    answered = [r for r in results if isinstance(r, Result) and not r.blocked]
    if answered:
        feedback.record_feedback(answered[0].request_id, 5, text="Clear answer, thanks! (ada@example.com)")
    client.close()
    metrics.close()  # writes what is still in memory (an exiting process does this through atexit too)

    outcomes = Counter(r.outcome.value if isinstance(r, Result) else Outcome.MODEL_ERROR.value for r in results)
    spent = sum(r.cost_usd for r in results if isinstance(r, Result))
    print(
        f"{len(results)} requests: "
        + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.most_common())
        + f"; ${spent:.4f} spent; 1 rating recorded"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
