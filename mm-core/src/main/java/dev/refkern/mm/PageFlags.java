package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.StringJoiner;
import org.apiguardian.api.API;

/**
 * Page flag bits ({@code enum pageflags}, {@code include/linux/page-flags.h}) as stored in the
 * memmap, plus the states the kernel keeps elsewhere in {@code struct page} (buddy page type,
 * compound tail, anon mapping bit) so that {@code refkern inspect} can show them like {@code
 * page-types}.
 */
@API(status = STABLE, since = "0.1.0")
public final class PageFlags {
  public static final int PG_LOCKED = 0;
  public static final int PG_WRITEBACK = 1;
  public static final int PG_REFERENCED = 2;
  public static final int PG_UPTODATE = 3;
  public static final int PG_DIRTY = 4;
  public static final int PG_LRU = 5;
  public static final int PG_HEAD = 6;
  public static final int PG_WAITERS = 7;
  public static final int PG_ACTIVE = 8;
  public static final int PG_WORKINGSET = 9;
  public static final int PG_OWNER_PRIV_1 = 10;
  public static final int PG_RESERVED = 11;
  public static final int PG_PRIVATE = 12;
  public static final int PG_RECLAIM = 13;
  public static final int PG_SWAPBACKED = 14;
  public static final int PG_UNEVICTABLE = 15;
  public static final int PG_MLOCKED = 16;
  public static final int PG_HWPOISON = 17;

  /**
   * {@code PG_anon_exclusive}: this anon page is mapped by exactly one process and may be pinned.
   */
  public static final int PG_ANON_EXCLUSIVE = 18;

  /** {@code PG_buddy} page type: a free block head in the buddy allocator. */
  public static final int PG_BUDDY = 24;

  /** A tail page of a compound page (the kernel encodes this in {@code compound_head}). */
  public static final int PG_TAIL = 25;

  /** Anonymous page ({@code PAGE_MAPPING_ANON} in the kernel's {@code mapping} pointer). */
  public static final int PG_ANON = 26;

  /** The shared zero page. */
  public static final int PG_ZERO_PAGE = 27;

  /** {@code ZONE_DEVICE} page owned by a {@code dev_pagemap}. */
  public static final int PG_DEVICE = 28;

  /** {@code PG_dma_pinned}: the flag proposed in seed 002 (2018) for pin tracking. */
  public static final int PG_DMA_PINNED = 29;

  /** {@code PG_slab}: in use by the kernel itself (allocations without a user mapping). */
  public static final int PG_SLAB = 30;

  /** Flags that must be clear when a page is freed ({@code PAGE_FLAGS_CHECK_AT_FREE}). */
  public static final long CHECK_AT_FREE =
      bit(PG_LOCKED)
          | bit(PG_WRITEBACK)
          | bit(PG_LRU)
          | bit(PG_ACTIVE)
          | bit(PG_RESERVED)
          | bit(PG_PRIVATE)
          | bit(PG_RECLAIM)
          | bit(PG_UNEVICTABLE)
          | bit(PG_MLOCKED)
          | bit(PG_BUDDY)
          | bit(PG_DMA_PINNED)
          | bit(PG_SLAB);

  private static final String[] NAMES = new String[64];
  private static final char[] ABBREV = new char[64];

  static {
    name(PG_LOCKED, "locked", 'L');
    name(PG_WRITEBACK, "writeback", 'W');
    name(PG_REFERENCED, "referenced", 'R');
    name(PG_UPTODATE, "uptodate", 'U');
    name(PG_DIRTY, "dirty", 'D');
    name(PG_LRU, "lru", 'l');
    name(PG_HEAD, "compound_head", 'H');
    name(PG_WAITERS, "waiters", 'w');
    name(PG_ACTIVE, "active", 'A');
    name(PG_WORKINGSET, "workingset", 'k');
    name(PG_OWNER_PRIV_1, "owner_private", 'O');
    name(PG_RESERVED, "reserved", 'r');
    name(PG_PRIVATE, "private", 'P');
    name(PG_RECLAIM, "reclaim", 'I');
    name(PG_SWAPBACKED, "swapbacked", 'b');
    name(PG_UNEVICTABLE, "unevictable", 'u');
    name(PG_MLOCKED, "mlocked", 'm');
    name(PG_HWPOISON, "hwpoison", 'X');
    name(PG_ANON_EXCLUSIVE, "anon_exclusive", 'e');
    name(PG_BUDDY, "buddy", 'B');
    name(PG_TAIL, "compound_tail", 'T');
    name(PG_ANON, "anonymous", 'a');
    name(PG_ZERO_PAGE, "zero_page", 'z');
    name(PG_DEVICE, "zone_device", 'V');
    name(PG_DMA_PINNED, "dma_pinned", 'p');
    name(PG_SLAB, "slab", 'S');
  }

  private PageFlags() {}

  private static void name(int bit, String name, char abbrev) {
    NAMES[bit] = name;
    ABBREV[bit] = abbrev;
  }

  /** The mask of one flag bit. */
  public static long bit(int flag) {
    return 1L << flag;
  }

  /** The kernel-style name of a flag bit, or {@code bitN} for an unnamed one. */
  public static String name(int flag) {
    return NAMES[flag] != null ? NAMES[flag] : "bit" + flag;
  }

  /** The one-letter {@code page-types} abbreviations of a flag word, '_' where clear. */
  public static String shortSymbolic(long flags) {
    StringBuilder sb = new StringBuilder();
    for (int b = 0; b < 64; b++) {
      if (ABBREV[b] != 0) {
        sb.append((flags & bit(b)) != 0 ? ABBREV[b] : '_');
      }
    }
    return sb.toString();
  }

  /** The comma-separated long names of the set bits, as {@code page-types -l} prints them. */
  public static String longSymbolic(long flags) {
    StringJoiner j = new StringJoiner(",");
    for (int b = 0; b < 64; b++) {
      if ((flags & bit(b)) != 0) {
        j.add(name(b));
      }
    }
    return j.length() == 0 ? "(none)" : j.toString();
  }
}
