package dev.refkern.mm.internal.memmap;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * The byte layout of one {@code struct page} in the memmap: 64 bytes, as {@code sizeof(struct
 * page)} on x86-64. Zero bytes are a valid, unused descriptor, so a new memmap needs no per-frame
 * initialisation.
 *
 * <p>Deviations from the kernel's encodings: {@code mapcount} holds the number of mappings (the
 * kernel's {@code _mapcount + 1}); LRU/free-list links are pfns plus one (0 means none).
 */
@API(status = INTERNAL, since = "0.1.0")
public final class PageDescriptor {
  public static final int SIZE = 64;
  public static final int SHIFT = 6;

  public static final int FLAGS = 0; // long
  public static final int REFCOUNT = 8; // int, _refcount
  public static final int MAPCOUNT = 12; // int, mappings
  public static final int PINCOUNT = 16; // int, _pincount (large folio head)
  public static final int COMPOUND = 20; // int, head: order; tail: pfn - head pfn
  public static final int MAPPING = 24; // long, address_space id (0 none)
  public static final int INDEX = 32; // long, page offset in mapping / anon index
  public static final int PRIVATE = 40; // long, buddy order, buffer heads, swap entry
  public static final int LRU_PREV = 48; // int, pfn + 1
  public static final int LRU_NEXT = 52; // int, pfn + 1
  public static final int LRU_STATE = 56; // int, which list the page is on
  public static final int PGMAP = 60; // int, dev_pagemap id (ZONE_DEVICE)

  private PageDescriptor() {}
}
