"""The sandbox executor: runs code inside a session container and reports to the control plane.

Standard library only; ``protocol`` is the contract the control plane shares with it.
"""
