"""The simulator: ISA table, decoder, disassembler, FP library, engine, cluster devices, machine, platforms, ELF
loading, results and timelines.

Data path: ``elf`` -> ``machine`` (memory + predecoded program, state arrays) -> ``engine`` -> ``result``.
"""
