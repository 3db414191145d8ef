package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.apiguardian.api.API;

/**
 * A policy's {@code module_param()} entry: the dotted kernel parameter it answers ({@code
 * gup.pin_tracking}), its value ({@code page_flag}), whether mainline does this today, and the
 * proposal it models. Every policy class carries one; {@link PolicyRegistry} reads it.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@API(status = EXPERIMENTAL, since = "0.1.0")
public @interface PolicySpec {
  /** The dotted kernel parameter, e.g. {@code gup.pin_tracking}. */
  String param();

  /** The value choosing this policy, e.g. {@code page_flag}. */
  String name();

  /** True for what mainline does today: the parameter's default. One per parameter. */
  boolean mainline();

  /** The proposal it models: seed file and date, e.g. {@code 002_997caa3756ff82e7.txt, 2018-06}. */
  String proposal();
}
