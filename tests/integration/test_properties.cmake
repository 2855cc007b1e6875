# CTest properties for individual integration tests. ctest reads this file after the tests that
# gtest_discover_tests found at build time, so they can be named here one by one (a name it
# does not know is ignored).

# The 1 GiB upload keeps both cores busy for a while: next to it, the tests that measure time
# (timeouts, drain deadlines, first probes) would see a slow machine, not the router.
set_tests_properties("StreamingTest.GigabyteUploadIsStreamedWithBoundedMemory" PROPERTIES RUN_SERIAL TRUE)

# Each page test runs headless Chromium (two processes of its own) next to the binaries.
set_tests_properties("PagesTest.AdminPageShowsPlacementsAndFailover" "PagesTest.AdminPageShowsMarkupAsText"
                     "PagesTest.FleetPageShowsConvergenceAndDisconnects" PROPERTIES TIMEOUT 120)
