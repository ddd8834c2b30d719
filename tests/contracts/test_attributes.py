"""FizzAttributeRegistry and the two ResourceRegistries: claims, approval, removal."""

from __future__ import annotations

from devnet.chain.artifacts import load_resource_seed
from tests.contracts.helpers import Chain, reverts


def _names(chain: Chain, receipt: object) -> list[str]:
    registry = chain.c("FizzAttributeRegistry")
    order = []
    for log in receipt["logs"]:  # type: ignore[index]
        for name in ("FizzAttributesSubmitted", "FizzAttributesApproved"):
            try:
                registry.events[name]().process_log(log)
            except Exception:
                continue
            order.append(name)
    return order


def test_resource_registries_hold_the_seed_tables(chain: Chain) -> None:
    seed = load_resource_seed()
    for category, name in (("CPU", "ResourceRegistryCPU"), ("GPU", "ResourceRegistryGPU")):
        registry = chain.c(name).functions
        rows = seed[category].resources
        assert registry.getAllResourceIds().call() == [r.id for r in rows]
        for row in rows:
            assert registry.getResource(row.id).call() == [row.name, row.tier, row.multiplier]
            assert registry.resources(row.id).call() == [row.name, row.tier, row.multiplier, True]
    gpu = chain.c("ResourceRegistryGPU").functions
    assert gpu.resources(999).call() == ["", "", 0, False]
    with reverts("ResourceNotFound"):
        gpu.getResource(999).call()


def test_submit_is_auto_approved_on_the_devnet(chain: Chain) -> None:
    wallet = chain.accounts[1]
    chain.register_fizz(wallet)
    registry = chain.c("FizzAttributeRegistry")
    assert registry.functions.autoApproval().call() is True

    receipt = chain.tx(registry.functions.submitAttributes("CPU", [1, 2], [8, 1]), wallet)
    assert _names(chain, receipt) == ["FizzAttributesSubmitted", "FizzAttributesApproved"]
    (submitted,) = chain.events(receipt, "FizzAttributeRegistry", "FizzAttributesSubmitted")
    assert dict(submitted["args"]) == {
        "fizz": wallet,
        "category": "CPU",
        "ids": [1, 2],
        "units": [8, 1],
    }
    (approved,) = chain.events(receipt, "FizzAttributeRegistry", "FizzAttributesApproved")
    assert approved["args"]["fizz"] == wallet
    assert approved["args"]["category"] == "CPU"
    assert [tuple(a.values()) for a in approved["args"]["attributes"]] == [(1, 8), (2, 1)]
    assert registry.functions.getAttributes(wallet, "CPU").call() == [(1, 8), (2, 1)]
    assert registry.functions.getPendingAttributes(wallet, "CPU").call() == []
    assert registry.functions.getAttributes(wallet, "GPU").call() == []


def test_manual_approval_when_auto_approval_is_off(chain: Chain) -> None:
    wallet, other = chain.accounts[1], chain.accounts[2]
    chain.register_fizz(wallet)
    chain.register_fizz(other)
    registry = chain.c("FizzAttributeRegistry")
    chain.tx(registry.functions.updateAutoApprovalState(False))

    receipt = chain.tx(registry.functions.submitAttributes("GPU", [6], [1]), wallet)
    assert _names(chain, receipt) == ["FizzAttributesSubmitted"]
    assert registry.functions.getPendingAttributes(wallet, "GPU").call() == [(6, 1)]
    assert registry.functions.getAttributes(wallet, "GPU").call() == []

    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(registry.functions.approveAttributes(wallet, "GPU"), wallet)
    receipt = chain.tx(registry.functions.approveAttributes(wallet, "GPU"))
    (approved,) = chain.events(receipt, "FizzAttributeRegistry", "FizzAttributesApproved")
    assert approved["args"]["fizz"] == wallet
    assert registry.functions.getAttributes(wallet, "GPU").call() == [(6, 1)]
    assert registry.functions.getPendingAttributes(wallet, "GPU").call() == []
    with reverts("NoPendingAttributes"):
        chain.tx(registry.functions.approveAttributes(wallet, "GPU"))

    # a resubmission stays pending while the approved claim keeps counting
    chain.tx(registry.functions.submitAttributes("GPU", [6], [2]), wallet)
    chain.tx(registry.functions.submitAttributes("CPU", [1], [4]), other)
    assert registry.functions.getAttributes(wallet, "GPU").call() == [(6, 1)]
    chain.tx(registry.functions.batchApproveAttributes([wallet, other], ["GPU", "CPU"]))
    assert registry.functions.getAttributes(wallet, "GPU").call() == [(6, 2)]
    assert registry.functions.getAttributes(other, "CPU").call() == [(1, 4)]


def test_submission_is_validated(chain: Chain) -> None:
    wallet = chain.accounts[1]
    registry = chain.c("FizzAttributeRegistry")
    submit = registry.functions.submitAttributes
    with reverts("FizzNodeNotFound"):
        chain.tx(submit("CPU", [1], [1]), wallet)
    chain.register_fizz(wallet)
    with reverts("InvalidCategory") as revert:
        chain.tx(submit("RAM", [1], [1]), wallet)
    assert revert.args == ("RAM",)
    with reverts("LengthMismatch"):
        chain.tx(submit("CPU", [1, 2], [1]), wallet)
    with reverts("EmptyAttributes"):
        chain.tx(submit("CPU", [], []), wallet)
    with reverts("UnknownResource") as revert:
        chain.tx(submit("CPU", [16], [1]), wallet)  # the CPU table has 15 rows
    assert revert.args == ("CPU", 16)
    with reverts("DuplicateResource"):
        chain.tx(submit("GPU", [3, 3], [1, 1]), wallet)
    with reverts("ZeroUnits"):
        chain.tx(submit("GPU", [3], [0]), wallet)


def test_remove_attributes(chain: Chain) -> None:
    wallet = chain.accounts[1]
    chain.register_fizz(wallet)
    registry = chain.c("FizzAttributeRegistry")
    chain.tx(registry.functions.submitAttributes("CPU", [1], [4]), wallet)
    receipt = chain.tx(registry.functions.removeAttributes("CPU"), wallet)
    (event,) = chain.events(receipt, "FizzAttributeRegistry", "FizzAttributesRemoved")
    assert dict(event["args"]) == {"fizz": wallet, "category": "CPU"}
    assert registry.functions.getAttributes(wallet, "CPU").call() == []


def test_resource_ids_are_unique_and_admin_only(chain: Chain) -> None:
    cpu = chain.c("ResourceRegistryCPU").functions
    with reverts("ResourceAlreadyExists"):
        chain.tx(cpu.addResource([1], ["dup"], [""], [1]))
    with reverts("LengthMismatch"):
        chain.tx(cpu.addResource([90, 91], ["a"], [""], [1]))
    with reverts("AccessControlUnauthorizedAccount"):
        chain.tx(cpu.addResource([90], ["x"], [""], [1]), chain.accounts[1])
    chain.tx(cpu.addResource([90], ["x86-new"], ["High 1"], [3 * 10**18]))
    assert cpu.getResource(90).call() == ["x86-new", "High 1", 3 * 10**18]
