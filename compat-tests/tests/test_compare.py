"""Unit tests for the comparison, classification and gate."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nfbpf_compat import compare as cmp  # noqa: E402
from nfbpf_compat import summary  # noqa: E402

CASE = {"id": "tests-py/ip/x.t:3:ip:t:c", "group": "tests-py/ip", "kind": "rule", "expect": "ok"}
GATE = {"max_false_accepts": 0, "max_accepted_diff_ratio": 0.05, "max_refused_diff_ratio": 0.10,
        "max_daemon_deaths": 0}


def step(name, rc=0, out="", err="", cmd=None):
    return {"name": name, "cmd": cmd or f"nft {name}", "rc": rc, "stdout": out, "stderr": err}


def result(*steps, notes=()):
    return {"steps": list(steps), "notes": list(notes)}


LISTING = "table ip t { # handle %d\n\tchain c { # handle 1\n\t}\n}\n"


class Classification(unittest.TestCase):
    def test_identical_after_table_handle_renumbering(self):
        k = result(step("rule"), step("list -a", out=LISTING % 40, cmd="nft -a list ruleset"))
        n = result(step("rule"), step("list -a", out=LISTING % 1, cmd="nft -a list ruleset"))
        v = cmp.compare(CASE, k, n)
        self.assertTrue(v.identical, v.categories)
        self.assertIs(v.kernel_accepted, True)
        self.assertIs(v.expectation_agrees, True)

    def test_false_accept(self):
        k = result(step("rule", rc=1, err="Error: Could not process rule: No such file or directory\n"))
        n = result(step("rule"))
        v = cmp.compare(CASE, k, n)
        self.assertEqual(v.categories, [cmp.FALSE_ACCEPT, cmp.STATUS, cmp.ERROR_TEXT])
        self.assertIs(v.expectation_agrees, False)
        self.assertEqual(v.signature, "rule: exit status kernel 1 / nfbpf 0")

    def test_listing_difference_and_signature(self):
        k = result(step("rule"), step("list", out="\tip saddr 10.0.0.1\n", cmd="nft list ruleset"))
        n = result(step("rule"), step("list", out="\tip saddr 10.0.0.2\n", cmd="nft list ruleset"))
        v = cmp.compare(CASE, k, n)
        self.assertEqual(v.categories, [cmp.LISTING])
        self.assertEqual(v.first_difference.step, "list")
        # numbers blurred: both sides look alike in the signature, the case still differs
        self.assertIn("ip saddr #.#.#.#", v.signature)

    def test_repeated_step_names_pair_in_order(self):
        k = result(step("flush"), step("setup", rc=1), step("flush"), step("rule"))
        n = result(step("flush"), step("setup", rc=1), step("flush", rc=1), step("rule"))
        v = cmp.compare(CASE, k, n)
        self.assertEqual(v.categories, [cmp.STATUS])
        self.assertEqual(v.differing_steps, 1)

    def test_daemon_death_and_reset_notes(self):
        k = result(step("rule"))
        n = result(step("rule"), notes=["nfbpfd died (exit status -11); restarted"])
        self.assertEqual(cmp.compare(CASE, k, n).categories, [cmp.DAEMON])
        n = result(step("rule"), notes=["flush ruleset refused after the case (exit 1: x)"])
        self.assertEqual(cmp.compare(CASE, k, n).categories, [cmp.RESET])


class Gate(unittest.TestCase):
    def verdicts(self, accepted_diff, accepted_same, false_accepts):
        out = []
        for _ in range(accepted_same):
            out.append(cmp.compare(CASE, result(step("rule")), result(step("rule"))))
        for _ in range(accepted_diff):
            out.append(cmp.compare(CASE, result(step("rule")), result(step("rule", rc=1))))
        for _ in range(false_accepts):
            out.append(cmp.compare(CASE, result(step("rule", rc=1)), result(step("rule"))))
        return out

    def test_thresholds(self):
        self.assertTrue(summary.apply_gate(self.verdicts(5, 95, 0), True, GATE).passed)
        failed = summary.apply_gate(self.verdicts(6, 94, 0), True, GATE)
        self.assertFalse(failed.passed)
        self.assertIn("kernel-accepted", failed.failures[0])
        self.assertFalse(summary.apply_gate(self.verdicts(0, 100, 1), True, GATE).passed)

    def test_not_applied_without_nfbpf(self):
        g = summary.apply_gate([], False, GATE)
        self.assertFalse(g.applied)
        self.assertTrue(g.passed)



class Baseline(unittest.TestCase):
    def verdict(self, case_id, same):
        case = dict(CASE, id=case_id)
        return cmp.compare(case, result(step("rule")), result(step("rule", rc=0 if same else 1)))

    def test_regression_fails_the_gate(self):
        now = [self.verdict("a", True), self.verdict("b", False), self.verdict("c", False)]
        g = summary.apply_gate(now, True, dict(GATE, max_accepted_diff_ratio=1.0), baseline={"a", "b"})
        self.assertEqual(g.regressions, ["b"])          # c was never identical: not a regression
        self.assertFalse(g.passed)
        self.assertTrue(summary.apply_gate(now, True, dict(GATE, max_accepted_diff_ratio=1.0),
                                           baseline={"a"}).passed)

    def test_update_keeps_cases_that_did_not_run(self):
        now = [self.verdict("a", False), self.verdict("b", True)]
        self.assertEqual(summary.updated_baseline({"a", "z"}, now), ["b", "z"])


if __name__ == "__main__":
    unittest.main()
