package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.report.SeedThread.Quote;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The five seed threads and their authors' proposals, quoted verbatim: kept in the code because the
 * seed files are not part of the repository, and the report must build anywhere.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class SeedThreads {
  private SeedThreads() {}

  /** Every seed thread, in file order. */
  public static final List<SeedThread> ALL =
      List.of(
          new SeedThread(
              "000",
              "000_3af96859bc97389c.txt",
              "Re: [PATCH v1 00/15] Keep track of GUPed pages in fs and block",
              "2019-04",
              "How should a bio remember that its pages came from get_user_pages(), so that its"
                  + " completion releases a pin and not a plain reference: a per-vector flag, a"
                  + " bit in the page pointer, a flag on the whole bio, or a pin on every page?",
              List.of("block.bio_pin_tracking"),
              List.of(
                  new Quote(
                      "Jérôme Glisse",
                      "2019-04-11",
                      "bvec_pfn_flag",
                      "To do so this patch- set change the bio_bvec struct to store a pfn and flags"
                          + " instead of a direct pointer to a page. This way we can flag page that"
                          + " are coming from GUP."),
                  new Quote(
                      "Boaz Harrosh",
                      "2019-04-16",
                      "page_ptr_bit",
                      "Why not just use the lowest bit of the page-ptr as a flag (pointer always"
                          + " aligned to 64 bytes in our case)."),
                  new Quote(
                      "Boaz Harrosh",
                      "2019-04-16",
                      "bio_flag",
                      "I mean why not have it as a bio flag. If it exist at all that a user has a"
                          + " GUP and none-GUP pages to IO at the same request he/she can just"
                          + " submit them as two separate BIOs (chained at the block layer)."),
                  new Quote(
                      "Kent Overstreet",
                      "2019-04-16",
                      "bvec_pfn_flag",
                      "Let's please not add additional flags and weirdness to struct bio - \"if"
                          + " this flag is set interpret one way, if not interpret another\" - or"
                          + " eventually bios will be as bad as skbuffs. I would much prefer just"
                          + " changing bv_page to bv_pfn."),
                  new Quote(
                      "Dan Williams",
                      "2019-04-16",
                      "bias_all",
                      "That said, I'm still in favor of Jan's proposal to just make the bv_page"
                          + " semantics uniform."),
                  new Quote(
                      "Jan Kara",
                      "2019-04-18",
                      "bias_all (withdrawn)",
                      "mandating gup-pin reference for all pages attached to a bio would require a"
                          + " lot of reworking of places that are not related to our problem and"
                          + " currently work just fine. So I withdraw my suggestion."))),
          new SeedThread(
              "001",
              "001_c473afd3af432c8a.txt",
              "Re: [PATCH 1/2] mm: introduce put_user_page*(), placeholder versions",
              "2018-12",
              "How should the kernel track pages that GUP handed to a device, and what must"
                  + " writeback and truncate do with a file page a device still writes: write it"
                  + " anyway, refuse the long-term pin, or revoke the device's mapping?",
              List.of(
                  "gup.pin_tracking", "writeback.pinned", "truncate.pinned", "gup.longterm_file"),
              List.of(
                  new Quote(
                      "Jérôme Glisse",
                      "2018-12-07",
                      "fake_vma",
                      "Another crazy idea, why not treating GUP as another mapping of the page and"
                          + " caller of GUP would have to provide either a fake anon_vma struct or"
                          + " a fake vma struct (or both for PRIVATE mapping of a file where you"
                          + " can have a mix of both private and file page thus only if it is a"
                          + " read only GUP) that would get added to the list of existing"
                          + " mapping."),
                  new Quote(
                      "Jan Kara",
                      "2018-12-10",
                      "bias",
                      "So this approach doesn't look like a win to me over using counter in struct"
                          + " page and I'd rather try looking into squeezing HMM public page usage"
                          + " of struct page so that we can fit that gup counter there as well."),
                  new Quote(
                      "Jérôme Glisse",
                      "2018-12-12",
                      "writeback.pinned",
                      "[O1] Avoid write back from a page still being written by either a device or"
                          + " some direct I/O or any other existing user of GUP. This would avoid"
                          + " possible file system corruption."),
                  new Quote(
                      "Dan Williams",
                      "2018-12-12",
                      "refuse (long-term)",
                      "No, that's not a sane solution, it's an emergency hack."),
                  new Quote(
                      "Jérôme Glisse",
                      "2018-12-12",
                      "revoke",
                      "Add mmu notifier listener to GUP user (except direct I/O) so that they"
                          + " invalidate they hardware mapping or switch the hardware mapping to"
                          + " use a crappy page."),
                  new Quote(
                      "Dan Williams",
                      "2018-12-12",
                      "wait",
                      "Almost, we need some safety around assuming that DMA is complete the page,"
                          + " so the notification would need to go all to way to userspace with"
                          + " something like a file lease notification."),
                  new Quote(
                      "Jérôme Glisse",
                      "2018-12-12",
                      "revoke",
                      "The mmu notifier i put forward is the emergency revoke ie last resort after"
                          + " driver have done everything it could to inform user- space and"
                          + " release the pages."))),
          new SeedThread(
              "002",
              "002_997caa3756ff82e7.txt",
              "Re: [PATCH 2/2] mm: set PG_dma_pinned on get_user_pages*()",
              "2018-06",
              "How does a page remember that it is pinned for DMA: a page flag, a special entry in"
                  + " the inode's VMA tree, or keeping pinned pages off the LRU?",
              List.of("gup.pin_tracking"),
              List.of(
                  new Quote(
                      "Jan Kara",
                      "2018-06-25",
                      "fake_vma",
                      "There are two obstacles with my approach of putting special entry into"
                          + " inode's VMA tree:"),
                  new Quote(
                      "Jan Kara",
                      "2018-06-25",
                      "lru_isolate",
                      "So I think the Matthew's idea of removing pinned pages from LRU is"
                          + " definitely worth trying to see how complex that would end up"
                          + " being."),
                  new Quote(
                      "John Hubbard",
                      "2018-06-26",
                      "lru_isolate",
                      "As you implied in an earlier response, removing a page from LRU is probably"
                          + " the easy part. It's *keeping* it off the LRU that worries me."))),
          new SeedThread(
              "003",
              "003_6adb35f4f25c0f96.txt",
              "Writeback of GUP'd pages: Jérôme Glisse and a reply (no subject line in the seed)",
              "2019-11",
              "What should writeback do with a page a device may still be writing: wait until the"
                  + " pin goes away, or write a bounce copy, and what does each lose at a power"
                  + " failure?",
              List.of("writeback.pinned", "gup.longterm_file"),
              List.of(
                  new Quote(
                      "Jérôme Glisse",
                      "2019-11-07",
                      "wait",
                      "do not write back GUPed page and wait until GUP goes away to write them. But"
                          + " GUP can last as long as the uptime and we can loose data on power"
                          + " failure."),
                  new Quote(
                      "Jérôme Glisse",
                      "2019-11-07",
                      "bounce",
                      "In any case my opinion is bounce page is the best thing we can do, from"
                          + " application and FS point of view it mimics the characteristics of"
                          + " regular write-back just as if the write protection window of the"
                          + " write-backed page was infinitly short."),
                  new Quote(
                      "the reply's author (unnamed in the seed)",
                      "2019-11",
                      "ignore",
                      "After setting page dirty, is there any pending DMA transfer to the dirty"
                          + " page? If yes, what is the point to do writeback for corrupted"
                          + " data?"))),
          new SeedThread(
              "004",
              "004_46a5be7e6bb085c8.txt",
              "Un-addressable device memory and filesystems, Jérôme Glisse and Dave Chinner (no subject line in the seed)",
              "2016-12",
              "Can a file page be migrated to device memory the CPU cannot address while the"
                  + " device writes it, and how does writeback reach it: migrate it home first,"
                  + " or bounce it from the device?",
              List.of("hmm.file_pages"),
              List.of(
                  new Quote(
                      "Jérôme Glisse",
                      "2016-12-13",
                      "file pages on the device",
                      "I want to be able to migrate mmaped area of such filesystem to device memory"
                          + " while the device is actively using that memory."),
                  new Quote(
                      "Dave Chinner",
                      "2016-12-14",
                      "off",
                      "That sounds ... complex. Page migration on page cache access inside the"
                          + " filesytem IO path locking during read()/write() sounds like a great"
                          + " way to cause deadlocks...."),
                  new Quote(
                      "Jérôme Glisse",
                      "2016-12-14",
                      "migrate_back",
                      "First is to use workqueue and have read/write wait on the workqueue to be"
                          + " done migrating the page back."),
                  new Quote(
                      "Jérôme Glisse",
                      "2016-12-14",
                      "bounce",
                      "Second solution is to use a bounce page during I/O so that there is no need"
                          + " for migration."))));
}
