"""The simulated driver, in rooms named after the upstream files they model.

=================  ==============================================================
room               models
=================  ==============================================================
``memory``         VRAM and GTT pools, system memory, the page store
                   (amdgpu_vram_mgr.c, amdgpu_gtt_mgr.c)
``device``         what every room shares: the clock, the log, the policies, the
                   topology (``struct amdgpu_device`` without its mechanisms)
``ring``           the SDMA page queue: ring, scheduler thread, SDMA executor
                   (amdgpu_ring.c, drm/scheduler, amdgpu_vm_sdma.c)
``ttm``            allocation modes, the LRU of eviction candidates, the eviction
                   loop (ttm_bo.c, ttm_resource.c)
``vm_pt``          page-table BOs and their updates (amdgpu_vm_pt.c)
``vm``             VMs, root PDs, BO mappings, BO and page-table moves
                   (amdgpu_vm.c, amdgpu_object.c, amdgpu_ttm.c)
``svm``            SVM ranges, migration, MMU-notifier invalidation, the
                   migration worker (kfd_svm.c, kfd_migrate.c)
``ih``             IH rings, the fault filter and the fault handler
                   (amdgpu_ih.c, amdgpu_gmc.c, amdgpu_vm_handle_fault)
``jobs``           user jobs on the GPU's engines (amdgpu_cs.c, amdgpu_job.c)
``process``        process lifetime: creation, kill, teardown, leaks
                   (kfd_process.c)
=================  ==============================================================

Lower rooms never import higher ones.  Where a lower room must call up (TTM evicting a
BO or an SVM range, the SDMA executor writing PTEs, the fault handler killing a
process), it calls an op it was given when the device was wired, the way TTM calls the
driver back through ``ttm_device_funcs``.
"""
