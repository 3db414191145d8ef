package dev.refkern.mm;

/** A memory zone ({@code enum zone_type}): the subset refkern models. */
public enum ZoneType {
  /** {@code ZONE_NORMAL}: kernel and user allocations. */
  NORMAL,
  /** {@code ZONE_MOVABLE}: only {@code __GFP_MOVABLE} allocations, so it can be emptied. */
  MOVABLE,
  /** {@code ZONE_DEVICE}: memmap for {@code dev_pagemap} ranges; never in the buddy allocator. */
  DEVICE
}
