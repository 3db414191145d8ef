/** refkern examples: the composition root, the {@code refkern} command line and example apps. */
module dev.refkern.examples {
  requires dev.refkern.mm;
  requires dagger;
  requires jakarta.inject;
  requires static java.compiler;
  requires info.picocli;

  opens dev.refkern.examples.cli to
      info.picocli;

  exports dev.refkern.examples;
}
