package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** A memory zone ({@code enum zone_type}): the subset refkern models. */
@API(status = STABLE, since = "0.1.0")
public enum ZoneType {
  /** {@code ZONE_NORMAL}: kernel and user allocations. */
  NORMAL,
  /** {@code ZONE_MOVABLE}: only {@code __GFP_MOVABLE} allocations, so it can be emptied. */
  MOVABLE,
  /** {@code ZONE_DEVICE}: memmap for {@code dev_pagemap} ranges; never in the buddy allocator. */
  DEVICE
}
