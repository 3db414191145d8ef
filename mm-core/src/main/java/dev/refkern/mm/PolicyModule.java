package dev.refkern.mm;

import dagger.Module;
import dagger.Provides;
import dagger.multibindings.ElementsIntoSet;
import dev.refkern.mm.spi.PolicyProvider;
import jakarta.inject.Singleton;
import java.util.LinkedHashSet;
import java.util.ServiceLoader;
import java.util.Set;

/**
 * The Dagger bridge of the policy registry (the kernel's {@code module_param()} table): the {@link
 * PolicyProvider}s that {@link ServiceLoader} finds on the module path join a {@code
 * Set<PolicyProvider>} multibinding, to which an application's own module may add more
 * ({@code @Provides @IntoSet PolicyProvider}); the component's {@link PolicyRegistry} holds them
 * all.
 */
@Module
public final class PolicyModule {
  private PolicyModule() {}

  /** What {@link ServiceLoader} finds: every module's (and user jar's) {@code provides}. */
  @Provides
  @ElementsIntoSet
  static Set<PolicyProvider> serviceLoaded() {
    Set<PolicyProvider> out = new LinkedHashSet<>();
    ServiceLoader.load(PolicyProvider.class).forEach(out::add);
    return out;
  }

  /** The registry of every contributed policy. */
  @Provides
  @Singleton
  static PolicyRegistry registry(Set<PolicyProvider> providers) {
    return PolicyRegistry.of(providers);
  }
}
